"""The archive and its reader: real Parquet files, real DuckDB, the simulated PBX over loopback sockets."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

import ami_nb
import ami_nb.sim
from ami_nb import analysis
from ami_nb.history import Archive, History
from ami_nb.history import open as open_history
from ami_nb.history.schema import column_name, key_of
from ami_nb.protocol import Parser, encode_message
from ami_nb.sim.model import PBX
from ami_nb.sim.traffic import start_traffic
from ami_nb.store import EventStore

T0 = 1_800_000_000.0


def sim_reads(seconds: float, *, seed: int = 0, rate: float = 200.0, per_read: int = 40,
              start: float = T0, mix: dict[str, float] | None = None) -> list[tuple[list, float]]:
    """Simulated call traffic as the client would receive it: parsed messages, a few dozen per socket read."""
    out: list[tuple[float, bytes]] = []

    def sink(name: str, priv: str, pairs: list, now: float) -> None:
        out.append((now, encode_message([("Event", name), ("Privilege", priv), ("Timestamp", f"{now:.6f}"),
                                         *pairs])))

    pbx = PBX(sink, seed=seed, start_time=start, traffic={"rate": rate, **({"mix": mix} if mix else {})})
    start_traffic(pbx, until=start + seconds)
    pbx.sched.run_until(start + seconds + 4000)
    parser = Parser(expect_banner=False)
    reads = []
    for i in range(0, len(out), per_read):
        chunk = out[i:i + per_read]
        reads.append((parser.feed(b"".join(d for _, d in chunk)), chunk[-1][0] + 0.0005))
    return reads


def archive_reads(root: Path, reads: list, *, pbx: str = "pbx1", store: EventStore | None = None,
                  **options: object) -> EventStore:
    """Feed ``reads`` to a store and an archive as a session does (store first, archive numbered by it)."""
    store = store if store is not None else EventStore()
    with Archive(root, pbx=pbx, **options) as a:  # type: ignore[arg-type]
        for events, received in reads:
            store.extend(events, received)
            a.write(events, received, store.total - len(events))
    return store


def assert_same_frame(live: pd.DataFrame, archived: pd.DataFrame, *, ordered: bool = True) -> None:
    """Equal values and dtypes (a category's order of categories is not part of the contract). ``ordered``:
    the columns in the same order too (not when the store saw events the archive did not: its first-seen order
    counts those)."""
    archived = archived.drop(columns=["pbx"], errors="ignore")
    if not ordered:
        assert set(live.columns) == set(archived.columns)
        archived = archived[list(live.columns)]
        live = live.copy()  # its categories also list values of the events it saw first
        for c in live.columns:
            if isinstance(live[c].dtype, pd.CategoricalDtype):
                live[c] = live[c].cat.remove_unused_categories()
    assert list(live.columns) == list(archived.columns)
    diff = {c: (live[c].dtype, archived[c].dtype) for c in live.columns if live[c].dtype != archived[c].dtype}
    assert not diff
    pd.testing.assert_frame_equal(live, archived, check_categorical=False)


@pytest.fixture
def sim():  # type: ignore[no-untyped-def]
    pbx = ami_nb.sim.start(timestampevents=True, time_scale=math.inf, start_time=T0)
    try:
        yield pbx
    finally:
        pbx.stop()


def test_session_archive_round_trip_equals_the_live_frame(tmp_path: Path, sim) -> None:  # type: ignore[no-untyped-def]
    s = ami_nb.connect(sim.url, secret=sim.users["admin"].secret)
    try:
        archive = s.archive(tmp_path, pbx="lab", flush_seconds=0.1)
        truth = sim.simulate(900, rate=240)
        deadline = time.monotonic() + 10
        while archive.written < s.events.total - 2 and time.monotonic() < deadline:  # Fully booted etc. came first
            time.sleep(0.05)
        first = int(s.events.total - archive.written)
    finally:
        s.close()
    assert archive.closed
    h = open_history(tmp_path)
    assert h.pbxes == ["lab"]
    live = s.events.frame(after=first)
    assert len(live) > 1000
    assert_same_frame(live, h.events(), ordered=False)  # the login events came before the archive
    assert h.events()["pbx"].eq("lab").all()
    # files are plain Hive-partitioned Parquet, named by PBX and UTC day
    days = {p.parent.name for p in tmp_path.glob("pbx=lab/date=*/*.parquet")}
    assert days == set(live["received"].dt.strftime("date=%Y-%m-%d"))  # the UTC day each read arrived
    calls = h.calls()
    assert set(truth["linkedid"]) <= set(calls["linkedid"])


def test_range_reads_span_memory_and_disk(tmp_path: Path, sim) -> None:  # type: ignore[no-untyped-def]
    """A store that keeps 1,500 events, an archive that keeps everything: frame(since=...) is whole."""
    s = ami_nb.connect(sim.url, secret=sim.users["admin"].secret, store_capacity=1000)
    try:
        archive = s.archive(tmp_path, pbx="lab", flush_seconds=0.1)
        sim.simulate(900, rate=240)
        time.sleep(0.3)
        store = s.events
        assert store.dropped > store.capacity  # most of it left memory
        archive.flush()
        h = open_history(tmp_path)
        everything = h.events()
        mid = everything["received"].iloc[len(everything) // 3]
        got = store.frame(since=mid)
        want = everything[everything["received"] >= mid].reset_index(drop=True)
        want = want.loc[:, want.notna().any()]  # keys only events before mid have (login events, if any)
        assert len(got) == len(want) > store.capacity
        assert_same_frame(want.drop(columns=["pbx"]), got, ordered=False)  # the same events, typed as one frame
        hangups = store.frame("Hangup", since=mid)
        assert len(hangups) == (want["Event"] == "Hangup").sum()
        assert store.frame("Hangup", since=mid, last=3)["Uniqueid"].tolist() == hangups["Uniqueid"].tail(3).tolist()
        assert len(store.frame()) == len(store)  # without since: memory only, as before
        # a since that memory still covers reads memory only: no flush, so no new file in the archive (the
        # writer's own timer waits an hour here: only frame() could write one)
        archive.flush_seconds = 3600.0
        archive.flush()
        files = sorted(tmp_path.rglob("*.parquet"))
        held = store.frame()
        recent = held["received"].iloc[len(held) // 2]
        got = store.frame(since=recent)
        assert got["received"].min() >= recent and len(got) >= (held["received"] >= recent).sum()
        assert sorted(tmp_path.rglob("*.parquet")) == files
    finally:
        s.close()


def test_archive_fed_by_its_store_has_every_event_once(tmp_path: Path) -> None:
    """The session's path: the store hands its chunks over, flushes copy the rows not frozen yet, and a store
    too small for one read (rows evicted before they were frozen) still archives every event, once, in order."""
    reads = sim_reads(1800, rate=240, per_read=300)  # reads of 300 events into a store that keeps 200
    n = sum(len(e) for e, _ in reads)
    whole = EventStore(capacity=n + 1)
    store = EventStore(capacity=200, chunk_size=150)
    head = 7
    for events, received in reads[:1]:  # received before the archive: not archived
        store.extend(events[:head], received)
        whole.extend(events[:head], received)
    with Archive(tmp_path, pbx="fed", flush_seconds=0.05, flush_rows=1000, seq_base=0, store=store) as a:
        for i, (events, received) in enumerate(reads):
            events = events[head:] if i == 0 else events
            store.extend(events, received)
            whole.extend(events, received)
            if i % 5 == 0:
                a.flush()  # the open buffer copied now is frozen again later: written once
        a.flush()
        assert a.written == n - head and a.pending == 0
    for events, received in reads[:3]:  # received after the close: never this archive's, not pending
        store.extend(events, received)
    assert a.written == n - head and a.pending == 0
    a.flush()  # nothing to wait for
    got = pq.read_table(tmp_path).to_pandas()
    assert sorted(got["seq"]) == list(range(head, n))  # the store's numbers, each once
    assert_same_frame(whole.frame(after=head), open_history(tmp_path).events(), ordered=False)


def test_a_close_that_times_out_leaves_no_thread_behind(tmp_path: Path) -> None:
    """close() giving up on a busy writer (a backlog written at the close; no wait at all) raises, the marks'
    thread ends at once, the writer's once its write is done: no thread named after the archive is left."""
    import threading

    reads = sim_reads(1800, rate=240)
    a = Archive(tmp_path, pbx="slow", flush_seconds=3600, flush_rows=10**7)
    for events, received in reads:  # queued, none written: the writer waits for the close
        a.write(events, received)
    assert a.written == 0
    a.on_state("reconnecting")  # marks, written by the marks' thread
    a.on_state("connected")
    mine = [t for t in threading.enumerate() if "ami-archive" in t.name and "slow" in t.name]
    assert len(mine) == 2  # the writer and the marks' thread
    with pytest.raises(TimeoutError, match="still busy"):
        a.close(timeout=0)
    for t in mine:
        t.join(60)  # a bound for a stuck thread, not a timing: each ends on its own
    assert not [t for t in threading.enumerate() if "ami-archive" in t.name and "slow" in t.name]
    assert a.written == sum(len(e) for e, _ in reads) and a.pending == 0  # the write was finished
    assert open_history(tmp_path).gaps["reason"].tolist() == ["reconnect"]  # and the marks queued before
    a.close()  # again, now the writer is done: the close mark is recorded, a later run is no crash
    b = Archive(tmp_path, pbx="slow")
    b.close()
    assert open_history(tmp_path).gaps["reason"].tolist() == ["reconnect", "stopped"]


def test_a_flush_of_many_chunks_is_their_rows_one_after_the_other(tmp_path: Path) -> None:
    """A flush converts its chunks at once (each key one array, strings as dictionary arrays): the rows are
    those of each chunk converted alone, one after the other, starting where a flush left off; the file says
    its columns are plain strings, as a file written from string columns does, and holds one row group."""
    import pyarrow as pa

    from ami_nb.history.schema import RowBuilder, chunk_columns, chunks_table
    from ami_nb.history.writer import write_table

    reads = sim_reads(900, rate=240, per_read=50)
    store = EventStore(capacity=10**6, chunk_size=300)
    for events, received in reads:
        store.extend(events, received)
    store.freeze()
    chunks = list(store._chunks)
    assert len(chunks) > 5
    pieces = [(c, [0, 3, c.n - 1, 0][i % 4]) for i, c in enumerate(chunks)]  # a tail written at an earlier flush
    alone = pa.concat_tables([chunk_columns(c, s) for c, s in pieces], promote_options="permissive")
    for encoded in (False, True):
        together = chunks_table(pieces, encoded=encoded)  # columns in first-seen order (of keys, not values)
        assert sorted(together.column_names) == sorted(alone.column_names)
        assert together.select(alone.column_names).cast(alone.schema).equals(alone)
    plain = RowBuilder().finish([alone], seq_base=5)
    enc = RowBuilder().finish([chunks_table(pieces, encoded=True)], seq_base=5)
    assert any(pa.types.is_dictionary(f.type) for f in enc.schema)
    enc = enc.select(plain.column_names)
    a, b = write_table(plain, tmp_path / "plain", 0), write_table(enc, tmp_path / "enc", 0)
    back = pq.read_table(b)
    assert back.schema == pq.read_table(a).schema == plain.schema  # strings, not dictionaries
    assert back.equals(pq.read_table(a)) and back.equals(plain)
    assert pq.ParquetFile(b).metadata.num_row_groups == 1


def test_partitions_of_a_table_in_another_time_unit_or_zone(tmp_path: Path) -> None:
    """``received`` in ns, ms, s or another zone: each row goes to its UTC day and is stored as microseconds
    UTC (ns truncated), the same instants."""
    import pyarrow as pa

    from ami_nb.history.writer import write_partitions

    midnight = pd.Timestamp("2027-01-15", tz="UTC")
    when = [midnight - pd.Timedelta(1, "ns"), midnight, midnight + pd.Timedelta(hours=36, microseconds=7)]
    days = ["2027-01-14", "2027-01-15", "2027-01-16"]  # the UTC day of each instant
    ns = [t.value for t in when]
    for unit, tz, values in [("ns", None, ns), ("ns", "Asia/Tokyo", ns), ("ms", "UTC", [v // 10**6 for v in ns]),
                             ("s", None, [v // 10**9 for v in ns])]:
        table = pa.table({"received": pa.array(values, pa.timestamp(unit, tz=tz)), "seq": pa.array([0, 1, 2])})
        root = tmp_path / f"{unit}-{tz}"
        write_partitions(table, root, "p")
        for day, v in zip(days, values, strict=True):
            got = pq.read_table(next((root / "pbx=p" / f"date={day}").glob("*.parquet")))
            assert got.schema.field("received").type == pa.timestamp("us", tz="UTC")
            us = v * {"ns": 1, "ms": 10**6, "s": 10**9}[unit] // 1000
            assert got["received"].cast(pa.int64()).to_pylist() == [us]
    with pytest.raises(TypeError, match="timestamp"):
        write_partitions(pa.table({"received": pa.array([1.5]), "seq": pa.array([0])}), tmp_path / "f", "p")


_KILLED_WRITER = """
import sys, time
sys.path.insert(0, {tests!r})
from test_history import sim_reads
from ami_nb.history import Archive
reads = sim_reads(3600, rate=300)
a = Archive({root!r}, pbx="k", flush_seconds=0.02, flush_rows=500)
print("writing", flush=True)
while True:
    for events, received in reads:
        a.write(events, received)
        time.sleep(0.002)
"""


def test_sigkill_mid_write_leaves_a_readable_archive(tmp_path: Path) -> None:
    root = tmp_path / "arc"
    code = _KILLED_WRITER.format(tests=str(Path(__file__).parent), root=str(root))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1]), os.environ.get(
        "PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, env=env)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"writing"
        deadline = time.monotonic() + 30
        while len(list(root.glob("pbx=k/date=*/*.parquet"))) < 8 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.013)  # land somewhere inside a write
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    files = list(root.glob("pbx=k/date=*/*.parquet"))
    assert len(files) >= 8
    total = sum(pq.ParquetFile(f).metadata.num_rows for f in files)  # every visible file is complete
    h = open_history(root)
    ev = h.events(columns=["Event", "Uniqueid"])
    assert len(ev) == total > 0
    assert ev["Event"].notna().all()


def test_calls_a_bucket_at_a_time_equal_the_in_memory_calls(tmp_path: Path) -> None:
    reads = sim_reads(2 * 3600, rate=150)
    store = archive_reads(tmp_path, reads)
    want = analysis.calls(store.frame())
    assert want["transferred"].any() and (want["disposition"] == "abandoned").any()
    h = open_history(tmp_path)
    for rows in (1_000_000, 7_000):  # one bucket; several
        got = h.calls(bucket_rows=rows)
        assert got["pbx"].eq("pbx1").all()
        pd.testing.assert_frame_equal(want, got.drop(columns=["pbx"]))
    # a period: the calls that started in it, whole
    mid = want["start"].iloc[len(want) // 2]
    part = h.calls(start=mid, bucket_rows=1_000_000)
    pd.testing.assert_frame_equal(want[want["start"] >= mid].reset_index(drop=True), part.drop(columns=["pbx"]))


def test_calls_joined_across_call_ids_stay_whole_in_one_bucket(tmp_path: Path) -> None:
    """Attended and blonde transfers and pickups move channels between Linkedids (the simulator's topologies):
    those calls are analysed together, whatever bucket their hashes fall in."""
    from ami_nb.history.buckets import Task, components, plan_tasks, run_task

    mix = {"answered": 0.3, "attended": 0.25, "blonde": 0.15, "pickup": 0.15, "queue": 0.15}
    store = archive_reads(tmp_path, sim_reads(1800, rate=240, seed=1, mix=mix))
    want = analysis.calls(store.frame())
    assert set(want["transfer_type"].dropna()) == {"attended", "blonde"}
    h = open_history(tmp_path)
    joined = components(h.con, str(tmp_path), "true")
    assert joined.num_rows >= 20  # pairs of Linkedids the transfers and pickups joined
    tasks = plan_tasks(h.con, str(tmp_path), "true", bucket_rows=1_000)
    assert sum(t.members is not None for t in tasks) >= 1 and sum(t.members is None for t in tasks) >= 4
    pd.testing.assert_frame_equal(want, h.calls(bucket_rows=1_000).drop(columns=["pbx"]))
    # the control: hash ranges alone split those calls, and the table comes out wrong
    naive = [Task(t.root, t.where, t.columns, t.lo, t.hi) for t in tasks if t.members is None]
    split = pd.concat([run_task(t, h.con) for t in naive], ignore_index=True)
    assert len(split) != len(want) or not split.drop(columns=["pbx"]).sort_values("linkedid").reset_index(
        drop=True).equals(want.sort_values("linkedid").reset_index(drop=True))


def test_several_pbxs_in_one_history(tmp_path: Path) -> None:
    """Two PBXs with the same call ids (the same seed): kept apart everywhere by the pbx column."""
    reads = sim_reads(1800, rate=200)
    a = archive_reads(tmp_path, reads, pbx="east")
    archive_reads(tmp_path, sim_reads(1800, rate=200), pbx="west")
    h = open_history(tmp_path)
    assert h.pbxes == ["east", "west"]
    want = analysis.calls(a.frame())
    got = h.calls(bucket_rows=8_000)
    assert len(got) == 2 * len(want)
    for name in ("east", "west"):
        mine = got[got["pbx"] == name].drop(columns=["pbx"]).reset_index(drop=True)
        pd.testing.assert_frame_equal(want, mine)
    assert_same_frame(a.frame(), h.events(pbx="west"))
    n = h.sql("SELECT pbx, count(*) AS n FROM events GROUP BY pbx ORDER BY pbx")
    assert n["n"].tolist() == [a.total, a.total]
    with pytest.raises(ValueError, match="several PBXs"):
        h.queue_stats()
    pd.testing.assert_frame_equal(h.queue_stats(pbx="east"), analysis.queue_stats(a.frame()))


def test_filters_are_pushed_down_and_match_the_store(tmp_path: Path) -> None:
    reads = sim_reads(3600, rate=200)
    store = archive_reads(tmp_path, reads, flush_seconds=0.05, flush_rows=1000)
    h = open_history(tmp_path)
    assert len(list(tmp_path.glob("pbx=pbx1/date=*/*.parquet"))) > 3
    full = store.frame()
    lo, hi = full["received"].iloc[1000], full["received"].iloc[4000]
    got = h.events("Queue*", start=lo, end=hi, columns=["Event", "Queue", "Uniqueid"])
    want = full[(full["received"] >= lo) & (full["received"] < hi)
                & full["Event"].astype(str).str.lower().str.startswith("queue")]
    assert list(got.columns) == ["received", "pbx", "Event", "Uniqueid", "Queue"] or \
        list(got.columns) == ["received", "pbx", "Event", "Queue", "Uniqueid"]
    assert got["Uniqueid"].tolist() == want["Uniqueid"].tolist()
    assert len(got) > 0
    plan = h.sql("EXPLAIN SELECT * FROM events WHERE " + h.where(start=lo, end=hi))
    assert "Filters" in plan.to_string() or "filters" in plan.to_string().lower()
    first, last = h.span  # type: ignore[misc]
    assert first == full["received"].iloc[0] and last == full["received"].iloc[-1]


def test_case_variants_of_a_key_stay_apart() -> None:
    """CEL spells CallerIDnum, Newchannel CallerIDNum: SQL engines would merge them, the archive does not."""
    taken: set[str] = set()
    names = []
    for k in ("CallerIDNum", "CallerIDnum", "Uniqueid", "UniqueID"):
        n = column_name(k, taken)
        taken.add(n.lower())
        names.append(n)
    assert names[0] == "CallerIDNum" and names[2] == "Uniqueid"
    assert len({n.lower() for n in names}) == 4
    assert [key_of(n) for n in names] == ["CallerIDNum", "CallerIDnum", "Uniqueid", "UniqueID"]


def test_gaps_say_when_nothing_was_recorded(tmp_path: Path) -> None:
    events = sim_reads(60, rate=600)[0][0]
    a = Archive(tmp_path, pbx="g")
    a.write(events, time.time())
    down = time.time()
    a.on_state("reconnecting")  # what the client reports when the connection drops, then when it is back
    time.sleep(0.05)
    a.on_state("connected")
    up = time.time()
    a.close()
    time.sleep(0.02)
    b = Archive(tmp_path, pbx="g")  # a crashed run: it opened, wrote, and never closed
    last = time.time()
    b.write(events, last)
    b.flush()  # ...and is never closed: what a SIGKILL leaves behind (no close mark)
    time.sleep(0.02)
    Archive(tmp_path, pbx="g").close()
    gaps = open_history(tmp_path).gaps
    assert gaps["reason"].tolist() == ["reconnect", "stopped", "crashed"]
    g = gaps.iloc[0]
    assert down <= g["start"].timestamp() < g["end"].timestamp() <= up
    assert g["end"] - g["start"] >= pd.Timedelta(seconds=0.05)
    assert gaps.iloc[2]["start"] == pd.Timestamp(round(last * 1e6) * 1000, tz="UTC")  # from its last event


def test_bad_input_is_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot name a partition"):
        Archive(tmp_path, pbx="a/b")
    with pytest.raises(FileNotFoundError, match="no archive"):
        History(tmp_path / "missing")
    empty = open_history(tmp_path)
    assert empty.span is None and len(empty.events()) == 0 and len(empty.calls()) == 0


def test_calls_on_a_dask_cluster_equal_the_local_calls(tmp_path: Path) -> None:
    distributed = pytest.importorskip("dask.distributed")
    from ami_nb.history import results
    from ami_nb.history.buckets import plan_tasks
    from ami_nb.history.dask import iter_tasks

    archive_reads(tmp_path, sim_reads(1800, rate=200), pbx="east")
    archive_reads(tmp_path, sim_reads(900, rate=200, seed=3), pbx="west")
    h = open_history(tmp_path)
    local = h.calls(bucket_rows=500)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  host="127.0.0.1") as cluster, distributed.Client(cluster) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        remote = h.calls(bucket_rows=500, client=client)
        # the tables as they finish, each task once, at most 2 in flight: the same calls
        tasks = plan_tasks(h.con, str(tmp_path), "true", bucket_rows=500, calls_only=True)
        got = list(iter_tasks(client, tasks, in_flight=2))
        out = results.write((t for _, t in iter_tasks(client, tasks)), tmp_path / "calls")
        streamed = h.calls(bucket_rows=500, client=client, out=tmp_path / "streamed.parquet", cache=False)
    assert len(local) > 50 and set(local["pbx"]) == {"east", "west"}
    pd.testing.assert_frame_equal(local, remote)
    assert len(tasks) >= 3 and sorted(i for i, _ in got) == list(range(len(tasks)))
    pd.testing.assert_frame_equal(local, results.combine([t for _, t in got]))
    pd.testing.assert_frame_equal(local, results.read(out))
    pd.testing.assert_frame_equal(local, results.read(streamed))


# -- imports ---------------------------------------------------------------------------------------------------------
SAMPLES = Path(__file__).parent / "fixtures" / "history"


def test_import_transcript_equals_reading_it(tmp_path: Path, transcripts: Path) -> None:
    from ami_nb.history.imports import import_transcript
    from ami_nb.recording import read_transcript

    src = transcripts / "32_originate_sync_and_failures.txt"
    report = import_transcript(src, tmp_path, pbx="lab")
    want = read_transcript(src)
    assert report.events == len(want) > 50 and not report.unmapped
    h = open_history(tmp_path)
    assert_same_frame(want, h.events())
    pd.testing.assert_frame_equal(analysis.calls(want), h.calls(bucket_rows=10).drop(columns=["pbx"]))


def test_import_jsonl_round_trip_and_what_it_skips(tmp_path: Path, transcripts: Path) -> None:
    from ami_nb.history.imports import import_jsonl
    from ami_nb.recording import read_transcript, to_jsonl

    want = read_transcript(transcripts / "19_originate_async_100.txt")
    path = to_jsonl(want, tmp_path / "events.jsonl")
    with path.open("a", encoding="utf-8") as fh:
        fh.write('[1, 2]\n{"received": "2026-01-01T00:00:00Z", "Response": "Success"}\nnot json\n')
    report = import_jsonl(path, tmp_path / "arc", pbx="lab")
    assert report.events == len(want) and report.rows == len(want) + 3
    assert dict(report.unmapped) == {"a JSON list, not an object": 1, "no Event key (not an event)": 1,
                                     "not JSON": 1}
    assert "not mapped" in str(report)
    assert_same_frame(want, open_history(tmp_path / "arc").events())


def test_import_cdr_master_csv(tmp_path: Path) -> None:
    from ami_nb.history.imports import import_cdr_csv

    report = import_cdr_csv(SAMPLES / "Master.csv", tmp_path, pbx="lab")
    # 4 Cdr events, and the call events they stand for: answered with a destination 12 (2 Newchannel, DialBegin,
    # DialEnd, 2 Newstate, 2 BridgeEnter, 2 BridgeLeave, 2 Hangup), answered without one 3, busy and no answer 6
    assert (report.rows, report.events) == (6, 4 + 3 + 12 + 6 + 6)
    assert dict(report.unmapped) == {"5 columns (expected 16, 17, 18 or 21)": 1,
                                     "EndTime is not a time (YYYY-MM-DD HH:MM:SS)": 1}
    assert dict(report.not_in_calls) == {"no LinkedID (newcdrcolumns off): each record's UniqueID is its call": 3}
    h = open_history(tmp_path)
    cdr = h.events("Cdr")
    assert cdr["CallerID"].tolist()[0] == '"Xfer Caller 1" <5552001>'  # the doubled quotes undone
    assert cdr["Disposition"].tolist() == ["ANSWERED", "ANSWERED", "BUSY", "NO ANSWER"]
    assert cdr["Duration"].tolist() == [1, 21, 2, 20] and str(cdr["Duration"].dtype) == "Int64"
    assert cdr["received"].iloc[1] == pd.Timestamp("2026-12-02 04:57:40", tz="UTC")  # its EndTime
    assert cdr["LinkedID"].tolist()[3] == "1796187720.103"
    table = analysis.cdrs(cdr.drop(columns=["pbx"]))  # Asterisk's own records, as the analysis reads them
    assert len(table) == 4
    # one call per record here (each its own UniqueID / LinkedID), as the records say
    calls = h.calls().set_index("linkedid")
    assert list(calls.index) == ["1796187439.96", "1796187439.99", "1796187662.101", "1796187720.103"]
    assert calls["disposition"].tolist() == ["answered", "answered", "busy", "no answer"]
    first = calls.loc["1796187439.96"]  # start 04:57:19, answer 04:57:22, end 04:57:40 (Duration 21, billsec 18)
    assert (first["wait"], first["talk"], first["duration"]) == (3.0, 18.0, 21.0)
    assert first["answered_by"] == "PJSIP/201" and first["caller_num"] == "5552000" and first["dialled"] == "2000"
    assert calls.loc["1796187720.103", "duration"] == 20.0 and pd.isna(calls.loc["1796187720.103", "answer"])


def test_import_cel_csv(tmp_path: Path) -> None:
    from ami_nb.history.imports import import_cel_csv

    report = import_cel_csv(SAMPLES / "Master-cel.csv", tmp_path, pbx="lab", tz="Europe/Paris")
    # 7 CEL events; 2 CHAN_START, 1 ANSWER and a HANGUP with a dialstatus give 5 call events
    assert (report.rows, report.events) == (9, 7 + 5)
    assert dict(report.unmapped) == {"EventTime is not a time": 1, "4 columns (expected 20)": 1}
    assert dict(report.not_in_calls) == {"BRIDGE_ENTER without a bridge_id in its extra": 1,
                                         "USER_DEFINED: a user-defined event": 1}
    cel = open_history(tmp_path).events("CEL")
    assert cel["EventName"].tolist() == ["CHAN_START", "APP_START", "CHAN_START", "ANSWER", "BRIDGE_ENTER",
                                         "USER_DEFINED", "HANGUP"]
    assert cel["AMAFlags"].eq("DOCUMENTATION").all()  # numeric 3 in the file, named as AMI names it
    assert cel["received"].iloc[0] == pd.Timestamp(1796187439.962113 * 1e9, tz="UTC").round("us")
    assert cel["LinkedID"].eq("1796187439.96").all() and cel["Peer"].iloc[4] == "PJSIP/201-0000001c"
    assert cel["Extra"].iloc[6].startswith('{"hangupcause":16')
    assert "CallerIDnum" in cel.columns and "CallerIDNum" not in cel.columns


def test_import_cel_gives_one_call_per_linkedid(tmp_path: Path) -> None:
    """Three calls as cel_custom writes them (see fixtures/history/README.md): History.calls() reads them."""
    from ami_nb.history.imports import import_cel_csv

    report = import_cel_csv(SAMPLES / "cel-calls.csv", tmp_path, pbx="lab")
    assert (report.rows, report.unmapped) == (31, {})
    calls = open_history(tmp_path).calls().set_index("linkedid")
    assert list(calls.index) == ["1796190000.1", "1796190100.3", "1796190200.5"]
    # 1: 201 answered; the caller entered the bridge at .030 after the start at .000, the last hangup at 34.040
    one = calls.loc["1796190000.1"]
    assert (one["disposition"], one["answered_by"], one["caller_num"], one["caller_name"], one["dialled"]) == \
        ("answered", "PJSIP/201", "300", "Front Desk", "201")
    assert (one["wait"], one["talk"], one["duration"], one["channels"]) == (4.03, 30.01, 34.04, 2)
    # 2: Dial's status BUSY, cause 17; 3: the dialplan answered the caller, Dial's status NOANSWER
    assert calls["disposition"].tolist() == ["answered", "busy", "no answer"]
    assert calls["cause"].tolist() == [16, 17, 16]
    assert calls.loc["1796190200.5", "duration"] == 22.0 and calls["answer"].iloc[1:].isna().all()
    ev = open_history(tmp_path).events()
    assert (ev["Event"] == "CEL").sum() == 31 and ev.loc[ev["Event"] != "CEL", "Imported"].eq("cel").all()
    raw = pq.read_table(tmp_path).to_pandas()  # the CEL records are filed under their call (bucketed with it)
    linked = next(c for c in raw.columns if key_of(c) == "LinkedID")
    cel = raw[raw["Event"] == "CEL"]
    assert cel["call_id"].equals(cel[linked])


def test_import_of_the_simulators_cel_gives_the_calls_of_its_ami_events(tmp_path: Path) -> None:
    """The simulator's CEL events written as cel_custom writes them (the sample mapping, AMA flags numeric),
    imported: the calls equal those of the same PBX's AMI events, but what CEL does not carry (queues)."""
    import csv

    from ami_nb.history.imports import CEL_FIELDS, import_cel_csv

    store = EventStore(capacity=10**6)
    for events, received in sim_reads(1800, rate=240, seed=2):
        store.extend(events, received)
    frame = store.frame()
    cel = frame[frame["Event"] == "CEL"]
    path = tmp_path / "Master.csv"
    with path.open("w", newline="") as fh:
        out = csv.writer(fh, quoting=csv.QUOTE_ALL, lineterminator="\n")
        for rec in cel.astype(object).where(cel.notna(), "").to_dict("records"):
            rec["AMAFlags"] = {"OMIT": "1", "BILLING": "2", "DOCUMENTATION": "3"}.get(rec["AMAFlags"], "")
            out.writerow([rec.get(f, "") for f in CEL_FIELDS])
    report = import_cel_csv(path, tmp_path / "arc", pbx="sim")
    assert report.rows == len(cel) and not report.unmapped
    want = analysis.calls(frame).set_index("linkedid")
    got = open_history(tmp_path / "arc").calls().set_index("linkedid").reindex(want.index)
    assert len(want) > 50 and got.index.equals(want.index)
    plain = want["queue"].isna()  # CEL says nothing of queues: a queued caller the dialplan answered is answered
    assert (want["disposition"] == "abandoned").any() and not (got["disposition"] == "abandoned").any()
    assert got["disposition"][plain].equals(want["disposition"][plain])
    assert got.loc[~plain, "disposition"].equals(want.loc[~plain, "disposition"].replace({"abandoned": "answered"}))
    for c in ("answered_by", "caller_num", "dialled", "channels"):
        assert got[c].fillna("-").astype(str).equals(want[c].fillna("-").astype(str)), c
    assert ((got["duration"] - want["duration"]).abs() <= 1).all()  # the simulator's CEL times: whole seconds


def test_import_of_the_simulators_cdrs_gives_the_dispositions_of_its_ami_events(tmp_path: Path) -> None:
    """The simulator's Cdr events written as cdr_csv writes Master.csv (18 columns): one call per record, with the
    disposition, caller and duration of the same PBX's AMI calls (queues aside: a CDR says nothing of them)."""
    import csv

    from ami_nb.history.imports import CDR_FIELDS, import_cdr_csv

    store = EventStore(capacity=10**6)
    for events, received in sim_reads(1800, rate=240, seed=2):
        store.extend(events, received)
    frame = store.frame()
    cdr = frame[frame["Event"] == "Cdr"]
    path = tmp_path / "Master.csv"
    with path.open("w", newline="") as fh:
        out = csv.writer(fh, quoting=csv.QUOTE_ALL, lineterminator="\n")
        for rec in cdr.astype(object).where(cdr.notna(), "").to_dict("records"):
            out.writerow([rec.get(f, "") for f in CDR_FIELDS[:18]])
    report = import_cdr_csv(path, tmp_path / "arc", pbx="sim")
    assert report.rows == len(cdr) and not report.unmapped
    want = analysis.calls(frame).set_index("linkedid")
    got = open_history(tmp_path / "arc").calls().set_index("linkedid").reindex(want.index)
    assert len(want) > 50 and got["disposition"].notna().all()
    plain = want["queue"].isna()
    assert got["disposition"][plain].equals(want["disposition"][plain])
    assert got.loc[~plain, "disposition"].equals(want.loc[~plain, "disposition"].replace({"abandoned": "answered"}))
    assert got["caller_num"].equals(want["caller_num"])
    assert ((got["duration"] - want["duration"]).abs() <= 1).all()  # CDR times: whole seconds


def test_import_queue_log_gives_the_queue_statistics(tmp_path: Path) -> None:
    from ami_nb.history.imports import import_queue_log

    report = import_queue_log(SAMPLES / "queue_log", tmp_path, pbx="lab")
    assert (report.rows, report.events) == (12, 8)
    assert dict(report.unmapped) == {"QUEUESTART (no call event)": 1, "ADDMEMBER (no call event)": 1,
                                     "PAUSE (no call event)": 1,
                                     "fewer than 5 fields (epoch|callid|queue|agent|event)": 1}
    ev = open_history(tmp_path).events()
    assert ev["Event"].tolist() == ["QueueCallerJoin", "AgentConnect", "AgentComplete", "QueueCallerJoin",
                                    "QueueCallerAbandon", "QueueCallerJoin", "AgentRingNoAnswer", "QueueCallerLeave"]
    assert ev["Uniqueid"].tolist()[:3] == ["1796187439.10"] * 3 and ev["Linkedid"].equals(ev["Uniqueid"])
    assert ev["HoldTime"].tolist()[1:3] == [6, 6] and ev["TalkTime"].tolist()[2] == 55
    assert ev["MemberName"].tolist()[1] == "Agent One" and ev["Queue"].eq("support").all()
    assert ev["received"].iloc[0] == pd.Timestamp(1796187439, unit="s", tz="UTC")


def test_queue_log_import_gives_the_queue_statistics(tmp_path: Path) -> None:
    from ami_nb.history.imports import import_queue_log

    import_queue_log(SAMPLES / "queue_log", tmp_path, pbx="lab")
    row = open_history(tmp_path).queue_stats().loc["support"]
    # three callers: answered after 6 s, abandoned after 20 s, timed out after 300 s (the sample's README)
    assert (row["offered"], row["answered"], row["abandoned"], row["timed_out"]) == (3, 1, 1, 1)


# -- the headless recorder --------------------------------------------------------------------------------------------
def test_recorder_archives_reconnects_and_logs_the_gap(tmp_path: Path) -> None:
    """``python -m ami_nb.archive`` against the simulated PBX; the PBX restarts; SIGTERM stops it cleanly."""
    first = ami_nb.sim.start(timestampevents=True, time_scale=math.inf, start_time=T0)
    port, secret = first.port, first.users["admin"].secret
    root = tmp_path / "arc"
    env = {**os.environ, "AMI_SECRET": secret, "AMI_CONNECTIONS_FILE": str(tmp_path / "none.ini"),
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1]), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "ami_nb.archive", f"ami://admin@127.0.0.1:{port}", str(root),
                             "--pbx", "lab", "--flush-seconds", "0.1"], env=env, stderr=subprocess.PIPE)
    second = None
    try:
        deadline = time.monotonic() + 20
        while not list(root.glob("_gaps/pbx=lab/*.jsonl")) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        first.simulate(600, rate=300)
        first.stop()  # the PBX goes away...
        time.sleep(1.0)
        second = ami_nb.sim.start(port=port, timestampevents=True, time_scale=math.inf, start_time=T0 + 3600)
        deadline = time.monotonic() + 20
        h = open_history(root)
        while not len(h.refresh().gaps) and time.monotonic() < deadline:  # ...and comes back: the client is up
            time.sleep(0.1)
        time.sleep(0.5)
        second.simulate(600, rate=300)
        time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
        if second is not None:
            second.stop()
        first.stop()
    assert proc.returncode == 0, err.decode()
    h = open_history(root)
    gaps = h.gaps
    assert gaps["reason"].tolist() == ["reconnect"]
    assert gaps["end"].iloc[0] - gaps["start"].iloc[0] >= pd.Timedelta(seconds=0.9)
    ev = h.events("Newchannel")
    t = ev["received"]
    assert (t < gaps["start"].iloc[0]).any() and (t > gaps["end"].iloc[0]).any()  # events from both PBX runs


def test_recorder_refuses_a_wrong_secret(tmp_path: Path, sim, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from ami_nb.archive import main

    monkeypatch.setenv("AMI_SECRET", "Not-The-Secret-9")
    monkeypatch.setenv("AMI_CONNECTIONS_FILE", str(tmp_path / "none.ini"))
    assert main([f"ami://admin@127.0.0.1:{sim.port}", str(tmp_path)]) == 2


def test_ami_connect_archive_flag(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """``%ami_connect --archive DIR`` is ``session.archive(DIR)``; ``%ami_events --since`` reads back through it."""
    from IPython.core.interactiveshell import InteractiveShell

    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    ip = InteractiveShell.instance()
    loaded = "ami_nb" in ip.extension_manager.loaded
    if not loaded:
        ip.run_line_magic("load_ext", "ami_nb")
    try:
        ip.run_line_magic("config", "AmiMagics.connections_file = ''")
        ip.run_line_magic("config", "AmiMagics.store_capacity = 300")
        ip.run_line_magic("config", "AmiMagics.sim_options = {'time_scale': math.inf, 'timestampevents': True}"
                          .replace("math.inf", "float('inf')"))
        ip.run_line_magic("ami_connect", f"--archive {tmp_path / 'arc'} --pbx notebook --alias archived")
        from ami_nb import magics

        conn = magics._LOADED[id(ip)].connection("archived")
        assert conn.sim is not None
        conn.sim.simulate(600, rate=300)
        time.sleep(0.3)
        store = conn.session.events
        assert store.dropped > 0
        df = ip.run_line_magic("ami_events", "--since 0 --last 100000")
        assert len(df) > store.capacity  # memory holds 300; the archive has the rest
        ip.run_line_magic("ami_disconnect", "-a archived")
        h = open_history(tmp_path / "arc")
        assert h.pbxes == ["notebook"] and len(h.events()) == len(df)
    finally:
        ip.run_line_magic("config", "AmiMagics.store_capacity = 1000000")
        if not loaded:
            ip.run_line_magic("unload_ext", "ami_nb")


def test_compact_rewrites_a_day_sorted_by_call_hash(tmp_path: Path) -> None:
    from ami_nb.history.compact import compact

    store = archive_reads(tmp_path, sim_reads(1800, rate=200), flush_seconds=0.05, flush_rows=800)
    before = list(tmp_path.glob("pbx=pbx1/date=*/*.parquet"))
    assert len(before) > 3
    h = open_history(tmp_path)
    calls = h.calls()
    written = compact(tmp_path, include_today=True, row_group_rows=1000)
    after = list(tmp_path.glob("pbx=pbx1/date=*/*.parquet"))
    assert after == written and len(after) == len({p.parent for p in before})
    meta = pq.ParquetFile(after[0]).metadata
    assert meta.num_row_groups > 2  # small row groups, each a narrow range of call_hash
    hashes = pq.read_table(after[0], columns=["call_hash"])["call_hash"].to_numpy()
    assert (hashes[1:] >= hashes[:-1]).all()
    h.refresh()
    assert_same_frame(store.frame(), h.events())
    pd.testing.assert_frame_equal(calls, h.calls())
    assert compact(tmp_path, include_today=True) == []  # nothing left to do


def test_call_rows_of_an_archive_table_equal_those_of_its_typed_frame(tmp_path: Path) -> None:
    """History.calls reads each bucket's Arrow table as a frame with category keys as strings: call_rows gives
    the rows of the typed frame, and of the live frame of the same events, dtypes included."""
    import pyarrow as pa

    from ami_nb.analysis._events import call_rows
    from ami_nb.history.buckets import plan_tasks
    from ami_nb.history.schema import typed_frame

    mix = {"answered": 0.3, "attended": 0.25, "blonde": 0.15, "pickup": 0.15, "queue": 0.15}
    reads = sim_reads(900, rate=240, seed=2, mix=mix)
    store = archive_reads(tmp_path, reads, pbx="east")
    archive_reads(tmp_path, reads, pbx="west")
    h = open_history(tmp_path)
    whole = h._arrow("pbx = 'east'", None)
    want = call_rows(store.frame())
    light = call_rows(typed_frame(whole, categorical=False))
    pd.testing.assert_frame_equal(want, light, check_exact=True)
    pd.testing.assert_frame_equal(call_rows(typed_frame(whole)), light, check_exact=True)
    for t in plan_tasks(h.con, str(tmp_path), "true", bucket_rows=5_000, calls_only=True):
        tab = t.arrow(h.con)  # both PBXs, the calls_only columns and rows, in no order
        assert isinstance(tab, pa.Table) and tab.num_rows
        pd.testing.assert_frame_equal(call_rows(typed_frame(tab)), call_rows(typed_frame(tab, categorical=False)),
                                      check_exact=True)


def test_call_rows_of_archive_tables_at_the_edges() -> None:
    """Repeated keys, a key under two column names, several PBXs interleaved, all-null and non-numeric
    columns, multi-valued keys, text Asterisk could not encode (replaced on write): as the typed frame reads,
    and the rows, call ids, states and channels the rows themselves give."""
    import json

    import pyarrow as pa

    from ami_nb.analysis._events import call_rows
    from ami_nb.history.schema import typed_frame

    rows: list[dict[str, object]] = [  # in received order; each row's columns (absent: null)
        {"seq": 5, "pbx": "b", "Event": "Newchannel", "Linkedid": "1.1", "Uniqueid": "1.1",
         "Channel": "PJSIP/a-00000001", "ChannelState": "4",
         "_repeats": {"Channel": ["PJSIP/a-00000001", "PJSIP/b-00000003"]}},
        {"seq": 1, "pbx": "a", "Event": "Newstate", "Timestamp": 2, "Linkedid~1": "2.1", "Uniqueid": "2.1",
         "Channel": "PJSIP/caf\u00e9-00000002", "ChannelState": "6"},
        {"seq": 4, "pbx": "b", "Event": "DialBegin", "DestLinkedid": "1.1"},
        {"seq": 2, "pbx": "a", "Event": "VarSet", "Linkedid": "2.1", "Uniqueid": "2.1", "Channel": "x\ufffdy",
         "ChannelState": "x", "Variable": ["QUEUESTATUS", "B"], "Value": "TIMEOUT"},
        {"seq": 3, "pbx": "a", "Event": "Hangup", "Timestamp": 5, "Linkedid": "2.1", "Uniqueid": "2.1",
         "ChannelState": "0", "Cause": "16"},
        {"seq": 0, "pbx": "b", "Event": "Newchannel", "Linkedid": "3.1", "Uniqueid": "3.1",
         "Channel": "Local/1@d-0000000a;1", "ChannelState": "1e1"},
        {"seq": 7, "pbx": "a", "Event": "QueueCallerJoin", "Linkedid": "2.1", "Uniqueid": "2.1", "HoldTime": "7x",
         "Queue": "sales", "_repeats": {"Queue": ["sales", "support"]}},
        {"seq": 6, "pbx": "b", "Event": "BlindTransfer", "TransfereeUniqueid": "3.1"},
    ]
    ts = pa.timestamp("us", tz="UTC")
    times = {"received": [1_000_000 * i for i in range(len(rows))],
             "Timestamp": [None if r.get("Timestamp") is None else 1_000_000 * r["Timestamp"] for r in rows]}
    text = ["pbx", "Event", "Linkedid", "Linkedid~1", "DestLinkedid", "Uniqueid", "Channel", "ChannelState",
            "Cause", "HoldTime", "CallerIDName", "Value", "Queue", "TransfereeUniqueid"]
    t = pa.table({
        **{k: pa.array(v, pa.int64()).cast(ts) for k, v in times.items()},
        "seq": pa.array([r["seq"] for r in rows], pa.int64()),
        **{k: pa.array([r.get(k) for r in rows], pa.string()) for k in text},
        "Variable": pa.array([r.get("Variable") for r in rows], pa.list_(pa.string())),
        "_repeats": pa.array([json.dumps(r["_repeats"]) if "_repeats" in r else None for r in rows]),
    })
    for tab in (t, t.drop_columns(["_repeats"]), t.filter(pa.array([p == "a" for p in t["pbx"].to_pylist()]))):
        got = call_rows(typed_frame(tab, categorical=False))
        pd.testing.assert_frame_equal(call_rows(typed_frame(tab)), got, check_exact=True)
    got = call_rows(typed_frame(t, categorical=False))

    def lid(r: dict[str, object]) -> object:  # Linkedid under either name; an Originate's dial: its destination's
        own = r.get("Linkedid") or r.get("Linkedid~1")
        return own or (r.get("DestLinkedid") if r["Event"] in ("DialBegin", "DialEnd") else None)

    def number(v: object) -> float:
        try:
            return float(v)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return math.nan

    # the call rows: per PBX in seq order, those with a call id, of the VarSets only QUEUESTATUS
    kept = [r for r in sorted(rows, key=lambda r: (r["pbx"], r["seq"]))
            if lid(r) and (r["Event"] != "VarSet" or r["Variable"][0] == "QUEUESTATUS")]  # type: ignore[index]
    assert len(kept) < len(rows)  # some rows are no call's
    assert got["lid"].tolist() == [lid(r) for r in kept]
    assert got["ev"].tolist() == [r["Event"] for r in kept]
    assert got["state"].fillna(-1).tolist() == [-1 if math.isnan(number(r.get("ChannelState")))
                                                else number(r.get("ChannelState")) for r in kept]
    # a repeated key: its first value (the column's); text kept as written, replacement characters included
    assert got["Channel"].fillna("").tolist() == [r.get("Channel") or "" for r in kept]

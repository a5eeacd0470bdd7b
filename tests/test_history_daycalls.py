"""Per-day call tables stored beside the events (ami_nb.history.daycalls): History.calls() reads them and gives
the table it computes from the events, whatever was stored, changed or could not be written. Simulated traffic
across midnights, real Parquet files, real DuckDB."""

from __future__ import annotations

import os
import shutil
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from test_history import archive_reads, sim_reads
from test_history_scale import MIX

import ami_nb
from ami_nb import analysis
from ami_nb.history import daycalls, results
from ami_nb.history import open as open_history
from ami_nb.history.buckets import run_task
from ami_nb.history.compact import compact
from ami_nb.history.daycalls import main as daycalls_main
from ami_nb.history.reader import History

MID = 1_700_006_400.0  # 2023-11-15 00:00 UTC: closed days, whatever day the tests run
DAYS = [("east", "2023-11-14"), ("east", "2023-11-15"), ("east", "2023-11-16"), ("west", "2023-11-15"),
        ("west", "2023-11-16")]


def _sorted(frames: list[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(frames, ignore_index=True).sort_values(["start", "linkedid", "pbx"],
                                                            kind="stable").reset_index(drop=True)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    """Two PBXs; east: an hour of traffic across each of two midnights (transfers, pickups, queues' Local
    channels), west: one. The expected table: analysis.calls() of each run's events in memory (each simulator run
    numbers its channels anew, so runs are analysed apart, as separate recorder runs of a PBX would be)."""
    root = tmp_path_factory.mktemp("daycalls")
    want = []
    for pbx, seed, start in (("east", 1, MID - 1200), ("east", 2, MID + 86400 - 1200), ("west", 3, MID + 86400 - 900)):
        store = archive_reads(root, sim_reads(2400, rate=200, seed=seed, mix=MIX, start=start), pbx=pbx)
        c = analysis.calls(store.frame())
        c.insert(0, "pbx", pd.array([pbx] * len(c), dtype="str"))
        want.append(c)
    return root, _sorted(want)


@pytest.fixture
def archive(built: tuple[Path, pd.DataFrame], tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    root = tmp_path / "a"
    shutil.copytree(built[0], root)
    return root, built[1]


def _stored(root: Path) -> list[Path]:
    return sorted((root / "_calls").rglob("*.parquet")) if (root / "_calls").is_dir() else []


def test_cold_then_warm_equal_the_fresh_and_in_memory_tables(archive: tuple[Path, pd.DataFrame]) -> None:
    root, want = archive
    h = open_history(root)
    spans = h.sql("SELECT pbx, call_id FROM events WHERE call_id IS NOT NULL GROUP BY ALL "
                  "HAVING count(DISTINCT date) > 1")
    assert len(spans) >= 5  # calls across midnight: their rows are in two day partitions
    assert want["transferred"].any() and {"attended", "blonde"} <= set(want["transfer_type"].dropna())
    fresh = h.calls(cache=False, workers=1)
    assert h.last_calls_plan is None and not _stored(root)  # cache=False neither reads nor writes
    pd.testing.assert_frame_equal(want, fresh, check_exact=True)
    cold = h.calls(bucket_rows=6_000, workers=2)
    plan = h.last_calls_plan
    assert plan is not None and sorted(plan.computed) == DAYS and not plan.from_rollups
    assert len(plan.written) == len(DAYS) and not plan.from_events
    # the calls across midnight (and those joined to them) are computed from their rows kept beside the tables
    assert 0 < plan.remainder_rows < h.sql("SELECT count(*) AS n FROM events")["n"].iloc[0] / 4
    pd.testing.assert_frame_equal(fresh, cold, check_exact=True)
    warm = h.calls(workers=1)
    plan = h.last_calls_plan
    assert sorted(plan.from_rollups) == DAYS and not plan.computed and not plan.written and not plan.from_events
    pd.testing.assert_frame_equal(fresh, warm, check_exact=True)
    # one PBX
    east = h.calls(pbx="east", workers=1)
    assert sorted(h.last_calls_plan.from_rollups) == [d for d in DAYS if d[0] == "east"]
    pd.testing.assert_frame_equal(want[want["pbx"] == "east"].reset_index(drop=True), east, check_exact=True)


def test_a_period_with_edge_days(archive: tuple[Path, pd.DataFrame]) -> None:
    root, _ = archive
    h = open_history(root)
    h.materialize(workers=1)
    start, end = pd.Timestamp(MID + 1800, unit="s", tz="UTC"), pd.Timestamp(MID + 86400 + 600, unit="s", tz="UTC")
    got = h.calls(start=start, end=end, margin=3600, workers=1)
    plan = h.last_calls_plan
    assert plan.from_rollups == [("east", "2023-11-15"), ("west", "2023-11-15")]  # wholly inside the window
    assert set(plan.from_events) == {("east", "2023-11-14"), ("east", "2023-11-16"), ("west", "2023-11-16")}
    pd.testing.assert_frame_equal(h.calls(start=start, end=end, margin=3600, workers=1, cache=False), got,
                                  check_exact=True)


def _late_row(root: Path, h: History) -> None:
    """A file written later into east's 2023-11-16 carrying a row of a call east's 2023-11-15 table holds as
    local (a copy of one of its rows with a new seq, received after midnight): that day is stale."""
    day = root / "_calls" / "pbx=east" / "date=2023-11-15"
    ids = pq.read_table(next(day.glob("ids-*.parquet")))
    local = ids.filter(ids["local"])["call_id"].to_pylist()
    ev_file = next((root / "pbx=east" / "date=2023-11-15").glob("*.parquet"))
    rows = pq.read_table(ev_file)
    hang = rows.filter(pc.and_(pc.is_in(rows["call_id"], value_set=pa.array(local)),
                               pc.equal(rows["Event"], "Hangup")))
    row = hang.slice(hang.num_rows // 2, 1)
    seq = h.sql("SELECT max(seq) AS s FROM events WHERE pbx = 'east'")["s"].iloc[0]
    late = pd.Timestamp(MID + 86400 + 3000, unit="s", tz="UTC")
    row = row.set_column(row.schema.get_field_index("seq"), "seq", pa.array([seq + 1], pa.int64()))
    row = row.set_column(row.schema.get_field_index("received"), "received",
                         pa.array([late], row.schema.field("received").type))
    pq.write_table(row, root / "pbx=east" / "date=2023-11-16" / "part-late.parquet")
    h.refresh()


def test_a_late_row_of_a_local_call_makes_its_day_stale(archive: tuple[Path, pd.DataFrame]) -> None:
    """The stale day is computed again, and the table is the one computed from the events; each day keeps the
    one table it was last computed into (the stale day's older generation, the changed day's older key go)."""
    root, _ = archive
    h = open_history(root)
    h.calls(workers=1)
    _late_row(root, h)
    got = h.calls(workers=1)
    plan = h.last_calls_plan
    assert plan.stale == [("east", "2023-11-15")]
    assert ("east", "2023-11-15") in plan.computed and ("east", "2023-11-16") in plan.computed  # its own files
    assert ("east", "2023-11-14") in plan.from_rollups
    assert all(len(list(d.glob("*.parquet"))) == 3 for d in (root / "_calls").glob("pbx=*/date=*"))
    fresh = h.calls(workers=1, cache=False)
    pd.testing.assert_frame_equal(fresh, got, check_exact=True)
    pd.testing.assert_frame_equal(fresh, h.calls(workers=1), check_exact=True)
    assert not h.last_calls_plan.stale and not h.last_calls_plan.computed


def test_an_interrupted_recompute_leaves_the_old_table_whole(archive: tuple[Path, pd.DataFrame]) -> None:
    """A stale day's new rows and ids are written when the question is planned, its calls when its last bucket
    finishes. Stopped in between, by an interrupt from the pool's side (its own files removed) or by a process
    killed after planning (they stay), the old table is still whole: found stale again, computed again, and the
    table is the one from the events (never the old calls beside the new ids, a call in them twice)."""
    root, _ = archive
    h = open_history(root)
    h.materialize(workers=1)
    _late_row(root, h)
    fresh = h.calls(workers=1, cache=False)
    before = _stored(root)

    def interrupted() -> Iterator[tuple[int, pa.Table]]:
        raise KeyboardInterrupt
        yield  # a generator, as the pool's is

    run = daycalls.plan(h, lo=None, hi=None, pbx=None, bucket_rows=500_000, version=h.rollup_version)
    assert ("east", "2023-11-15") in run.plan.computed and len(_stored(root)) > len(before)
    with pytest.raises(KeyboardInterrupt):
        for _ in run.watch(interrupted()):
            pass
    assert _stored(root) == before  # the unfinished days' rows and ids went with the interrupt
    daycalls.plan(h, lo=None, hi=None, pbx=None, bucket_rows=500_000, version=h.rollup_version)  # then killed
    assert len(_stored(root)) > len(before)
    got = h.calls(workers=1)
    assert h.last_calls_plan.stale == [("east", "2023-11-15")]
    pd.testing.assert_frame_equal(fresh, got, check_exact=True)
    pd.testing.assert_frame_equal(fresh, h.calls(workers=1), check_exact=True)
    assert not h.last_calls_plan.stale and not h.last_calls_plan.computed


def test_files_moved_under_a_question(archive: tuple[Path, pd.DataFrame]) -> None:
    """Between a question's plan and its run the events are compacted (every file renamed) and a stored table
    removed (as a newer one landing removes it): the tasks list the day directories when they run, read the
    removed rows through the question's own link to them, and the missing calls are computed from the events.
    Same table as from the events alone."""
    root, _ = archive
    h = open_history(root)
    h.materialize(workers=1)
    start, end = pd.Timestamp(MID + 1800, unit="s", tz="UTC"), pd.Timestamp(MID + 86400 + 600, unit="s", tz="UTC")
    run = daycalls.plan(h, lo=start.timestamp() - 3600, hi=end.timestamp() + 3600, pbx=None, bucket_rows=500_000,
                        version=h.rollup_version)
    assert run.plan.from_rollups and run.plan.from_events  # stored tables and days from the events
    assert compact(root)
    for f in (root / "_calls" / "pbx=east" / "date=2023-11-15").glob("*.parquet"):
        f.unlink()
    parts = [t for _, t in run.watch((i, results.compact(run_task(t, con=h.con))) for i, t in enumerate(run.tasks))]
    run.finish_empty()
    got = results.combine([*run.tables(), *parts], start=start, end=end)
    run.release()
    assert not list((root / "_calls").rglob(".*"))  # the question's links to the rows it read are gone
    h.refresh()
    pd.testing.assert_frame_equal(h.calls(start=start, end=end, margin=3600, workers=1, cache=False), got,
                                  check_exact=True)


def test_out_with_stored_tables(archive: tuple[Path, pd.DataFrame], tmp_path: Path) -> None:
    """out= reads the stored tables one at a time into the parts it writes: cold (computing and storing) and
    warm, a directory or a file, the table read back is the in-memory one."""
    root, want = archive
    h = open_history(root)
    cold = h.calls(workers=1, bucket_rows=6_000, out=tmp_path / "cold")
    assert sorted(h.last_calls_plan.computed) == DAYS
    warm = h.calls(workers=1, out=tmp_path / "warm.parquet")
    assert sorted(h.last_calls_plan.from_rollups) == DAYS
    for path in (cold, warm):
        pd.testing.assert_frame_equal(want, results.read(path), check_exact=True)


def test_a_code_change_invalidates_and_old_tables_go(archive: tuple[Path, pd.DataFrame]) -> None:
    """Another version's tables are left a day (another installation may still read them), then removed."""
    root, want = archive
    h = open_history(root)
    h.materialize(workers=1)
    before = _stored(root)
    assert len(before) == 3 * len(DAYS)  # rows, ids and calls of each day
    h.rollup_version = "another version of the analysis"
    got = h.calls(workers=1)
    assert sorted(h.last_calls_plan.computed) == DAYS
    second = sorted(set(_stored(root)) - set(before))
    assert len(second) == len(before) and set(before) <= set(_stored(root))
    pd.testing.assert_frame_equal(want, got, check_exact=True)
    aged = time.time() - 2 * daycalls.GRACE
    for f in before:
        os.utime(f, (aged, aged))
    h.rollup_version = "a third version"
    h.materialize(workers=1, start=MID, end=MID + 86400)  # the days of 2023-11-15 only
    day = {f for f in before if "date=2023-11-15" in str(f)}
    left = set(_stored(root))
    assert not day & left  # aged, where a table landed: gone
    assert set(before) - day <= left and set(second) <= left  # elsewhere, or not aged: kept
    assert len(left - set(before) - set(second)) == len(day)  # the third version's tables of those days


def test_the_code_version_covers_what_the_tables_import(tmp_path: Path) -> None:
    pkg = Path(ami_nb.__file__).parent
    names = {f.relative_to(pkg).as_posix() for f in daycalls._sources(pkg)}
    assert {"analysis/calls.py", "history/buckets.py", "history/daycalls.py", "history/results.py",
            "history/schema.py", "store.py", "values.py"} <= names
    assert "history/writer.py" not in names and "history/reader.py" not in names
    assert daycalls._sources(tmp_path) == []  # no sources (a .pyc install): the versions alone, no error
    assert daycalls._version_of(tmp_path) != daycalls.code_version()


def test_stray_and_incomplete_files_are_ignored(archive: tuple[Path, pd.DataFrame]) -> None:
    root, want = archive
    h = open_history(root)
    h.materialize(workers=1)
    day = root / "_calls" / "pbx=east" / "date=2023-11-15"
    next(day.glob("ids-*.parquet")).unlink()  # a calls file without its ids: not a table
    (day / ".calls-0123456789abcdef.parquet.tmp").write_bytes(b"half a file")
    (root / "_calls" / "pbx=west" / "date=2023-11-16" / ".rows-x.parquet.tmp").write_bytes(b"")
    got = h.calls(workers=1)
    assert h.last_calls_plan.computed == [("east", "2023-11-15")]
    assert len(h.last_calls_plan.from_rollups) == len(DAYS) - 1
    pd.testing.assert_frame_equal(want, got, check_exact=True)
    assert len(h.events()) == h.sql("SELECT count(*) AS n FROM events")["n"].iloc[0]  # events never see _calls


def test_an_archive_that_cannot_be_written(archive: tuple[Path, pd.DataFrame]) -> None:
    """Where the tables cannot be stored (the _calls path taken by a file: even root cannot write there) the
    table is right, nothing is stored, and the failure is said once."""
    root, want = archive
    (root / "_calls").write_text("not a directory")
    h = open_history(root)
    with pytest.warns(UserWarning, match="could not store") as caught:
        got = h.calls(workers=1)
    assert len([w for w in caught if "could not store" in str(w.message)]) == 1
    assert not h.last_calls_plan.written and not h.last_calls_plan.from_rollups
    pd.testing.assert_frame_equal(want, got, check_exact=True)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes through chmod")
def test_a_read_only_archive(archive: tuple[Path, pd.DataFrame]) -> None:
    root, want = archive
    modes = {p: p.stat().st_mode for p in [root, *root.rglob("*")] if p.is_dir()}
    for p in modes:
        p.chmod(0o555)
    try:
        h = open_history(root)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            got = h.calls(workers=1)
        assert not h.last_calls_plan.written and not _stored(root)
        pd.testing.assert_frame_equal(want, got, check_exact=True)
    finally:
        for p, m in modes.items():
            p.chmod(m)


def test_the_nightly_step_compacts_then_stores(archive: tuple[Path, pd.DataFrame]) -> None:
    root, want = archive
    assert daycalls_main([str(root), "--workers", "1"]) == 0
    assert all(len(list(d.glob("*.parquet"))) == 1 for d in root.glob("pbx=*/date=*"))  # compacted
    assert len(_stored(root)) == 3 * len(DAYS)
    h = open_history(root)
    assert h.materialize(workers=1) == []  # nothing left to do
    got = h.calls(workers=1)
    assert sorted(h.last_calls_plan.from_rollups) == DAYS
    pd.testing.assert_frame_equal(want, got, check_exact=True)


def test_on_a_dask_cluster(archive: tuple[Path, pd.DataFrame]) -> None:
    distributed = pytest.importorskip("dask.distributed")
    root, want = archive
    h = open_history(root)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  host="127.0.0.1") as cluster, distributed.Client(cluster) as client:
        cold = h.calls(client=client, bucket_rows=6_000)
        assert len(h.last_calls_plan.written) == len(DAYS)
        warm = h.calls(client=client)
        assert sorted(h.last_calls_plan.from_rollups) == DAYS
    pd.testing.assert_frame_equal(want, cold, check_exact=True)
    pd.testing.assert_frame_equal(want, warm, check_exact=True)


def test_a_local_call_named_days_later_is_read_from_events(archive: tuple[Path, pd.DataFrame]) -> None:
    """Rows of a call stored as local to D found in a day that is not D's neighbour: a row of a new call whose
    links name it (a bridge entered again days later), then a row of the call itself (no row for a whole day
    between). D's table no longer answers for it: its events do, and the table is the fresh one."""
    import zlib

    root, _ = archive
    h = open_history(root)
    h.materialize(workers=1)
    day = root / "_calls" / "pbx=east" / "date=2023-11-15"
    ids = pq.read_table(next(day.glob("ids-*.parquet")))
    local = ids.filter(ids["local"])["call_id"].to_pylist()
    rows = pq.read_table(next((root / "pbx=east" / "date=2023-11-15").glob("*.parquet")))
    hang = rows.filter(pc.and_(pc.is_in(rows["call_id"], value_set=pa.array(local)),
                               pc.equal(rows["Event"], "Hangup")))
    row = hang.slice(0, 1)
    seq = h.sql("SELECT max(seq) AS s FROM events WHERE pbx = 'east'")["s"].iloc[0]
    far = root / "pbx=east" / "date=2023-11-19"
    far.mkdir()

    def put(table: pa.Table, name: str, **cols: pa.Array) -> None:
        for c, arr in cols.items():
            table = table.set_column(table.schema.get_field_index(c), c, arr.cast(table.schema.field(c).type))
        pq.write_table(table, far / name)

    when = pa.array([pd.Timestamp(MID + 4 * 86400 + 60, unit="s", tz="UTC")])
    other = "1700352000.1"
    put(row, "part-link.parquet", seq=pa.array([seq + 1]), received=when, call_id=pa.array([other]),
        Linkedid=pa.array([other]), call_hash=pa.array([zlib.crc32(other.encode())]),
        links=pa.array([[row["call_id"][0].as_py()]], pa.list_(pa.string())))
    h.refresh()
    got = h.calls(workers=1)
    assert h.last_calls_plan.conflicts == [("east", "2023-11-15")]
    pd.testing.assert_frame_equal(h.calls(workers=1, cache=False), got, check_exact=True)
    (far / "part-link.parquet").unlink()
    put(row, "part-again.parquet", seq=pa.array([seq + 2]), received=when)
    h.refresh()
    got = h.calls(workers=1)
    assert set(h.last_calls_plan.conflicts) == {("east", "2023-11-15"), ("east", "2023-11-19")}
    pd.testing.assert_frame_equal(h.calls(workers=1, cache=False), got, check_exact=True)


@pytest.fixture(scope="module")
def twins(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, pd.DataFrame]]:
    """Two PBXs whose call ids collide: the same simulator seed and start, a's traffic 40 minutes across
    midnight, b's the 20 before it (b's calls are a's first ones, ids and all). b's second day holds only the
    rows of calls begun before midnight: no local call. Expected: each PBX's events analysed in memory."""
    root = tmp_path_factory.mktemp("twins")
    want = {}
    for pbx, seconds in (("a", 2400), ("b", 1200)):
        store = archive_reads(root, sim_reads(seconds, rate=200, seed=5, mix=MIX, start=MID - 1200), pbx=pbx)
        c = analysis.calls(store.frame())
        c.insert(0, "pbx", pd.array([pbx] * len(c), dtype="str"))
        want[pbx] = _sorted([c])
    return root, want


def test_pbxs_whose_call_ids_collide(twins: tuple[Path, dict[str, pd.DataFrame]], tmp_path: Path) -> None:
    root = tmp_path / "t"
    shutil.copytree(twins[0], root)
    want = twins[1]
    h = open_history(root)
    shared = h.sql("SELECT call_id FROM events WHERE pbx = 'a' INTERSECT SELECT call_id FROM events WHERE pbx = 'b'")
    assert len(shared) > 10
    h.materialize(workers=1)
    both = h.calls(workers=1)
    assert len(h.last_calls_plan.from_rollups) == 4 and not h.last_calls_plan.conflicts
    pd.testing.assert_frame_equal(_sorted([want["a"], want["b"]]), both, check_exact=True)
    for pbx in ("a", "b"):
        got = h.calls(pbx=pbx, workers=1)
        assert [p for p, _ in h.last_calls_plan.from_rollups] == [pbx, pbx]
        pd.testing.assert_frame_equal(want[pbx], got, check_exact=True)
    # b's day after midnight: stored, every call of it nonlocal (computed from its rows with the rest)
    day = root / "_calls" / "pbx=b" / "date=2023-11-15"
    ids = pq.read_table(next(day.glob("ids-*.parquet")))
    assert ids.num_rows and not pc.any(ids["local"]).as_py()
    assert pq.read_table(next(day.glob("calls-*.parquet"))).num_rows == 0


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes through chmod")
def test_a_writable_calls_directory_in_a_read_only_archive(archive: tuple[Path, pd.DataFrame]) -> None:
    """The archive root read-only to this user, ``_calls`` (made by the nightly step) writable: tables are stored."""
    root, want = archive
    h = open_history(root)
    h.materialize(workers=1)
    for f in (root / "_calls" / "pbx=west" / "date=2023-11-16").glob("calls-*.parquet"):
        f.unlink()
    mode = root.stat().st_mode
    root.chmod(0o555)
    try:
        got = h.calls(workers=1)
        assert h.last_calls_plan.computed == [("west", "2023-11-16")] and len(h.last_calls_plan.written) == 1
    finally:
        root.chmod(mode)
    pd.testing.assert_frame_equal(want, got, check_exact=True)


def test_yesterday_is_checked_not_restamped_while_today_grows(tmp_path: Path) -> None:
    """Today's files change all day: yesterday's table is checked against them at each question (and answers),
    but its calls file is not rewritten each time."""
    now = time.time()
    if now % 86400 > 86400 - 600:
        pytest.skip("too near midnight UTC: today may change during the test")
    midnight = now - now % 86400
    root = tmp_path / "a"
    store = archive_reads(root, sim_reads(900, rate=200, seed=6, start=midnight - 600), pbx="p")
    want = analysis.calls(store.frame())
    want.insert(0, "pbx", pd.array(["p"] * len(want), dtype="str"))
    yesterday = time.strftime("%Y-%m-%d", time.gmtime(midnight - 1))
    assert compact(root)  # yesterday's files, once and for all (today's are left)
    h = open_history(root)
    h.calls(workers=1)
    assert h.last_calls_plan.computed == [("p", yesterday)]
    stored = next((root / "_calls" / "pbx=p" / f"date={yesterday}").glob("calls-*.parquet"))
    before = (pq.read_schema(stored).metadata, stored.stat().st_mtime_ns)
    assert compact(root, include_today=True)  # today's files renamed: its fingerprint changes, not yesterday's
    h.refresh()
    got = h.calls(workers=1)
    assert h.last_calls_plan.from_rollups == [("p", yesterday)] and not h.last_calls_plan.stale
    assert (pq.read_schema(stored).metadata, stored.stat().st_mtime_ns) == before
    pd.testing.assert_frame_equal(_sorted([want]), got, check_exact=True)


def test_a_dated_future_day_is_closed_as_compact_counts_it(tmp_path: Path) -> None:
    """Closed means not today (UTC), as compact() counts days: a day dated ahead (the benchmark's 2027 archive,
    a clock set ahead) is stored and read back like any other."""
    today = time.gmtime()
    if today.tm_hour == 23 and today.tm_min >= 50:
        pytest.skip("too near midnight UTC: today may change during the test")
    ahead = (int(time.time()) // 86400 + 30) * 86400.0  # a midnight 30 days on
    store = archive_reads(tmp_path, sim_reads(1200, rate=200, seed=4, start=ahead + 3600), pbx="lab")
    want = analysis.calls(store.frame())
    want.insert(0, "pbx", pd.array(["lab"] * len(want), dtype="str"))
    h = open_history(tmp_path)
    cold = h.calls(workers=1)
    day = time.strftime("%Y-%m-%d", time.gmtime(ahead))
    assert h.last_calls_plan is not None and h.last_calls_plan.computed == [("lab", day)]
    warm = h.calls(workers=1)
    assert h.last_calls_plan is not None and h.last_calls_plan.from_rollups == [("lab", day)]
    for got in (cold, warm):
        pd.testing.assert_frame_equal(want, got, check_exact=True)


def test_a_day_without_a_key_the_others_have_is_stored(tmp_path: Path) -> None:
    """Days differ in columns (a key no event of a day carried is not in its files): a day is computed from its
    own files, naming only its own columns, and stored; the table equals the one from the events."""
    for k in range(2):
        archive_reads(tmp_path, sim_reads(1200, rate=200, seed=5 + k, start=MID + k * 86400 + 3600), pbx="lab")
    compact(tmp_path)
    day0 = sorted((tmp_path / "pbx=lab").glob("date=*"))[0]
    (f,) = day0.glob("*.parquet")
    table = pq.read_table(f)
    gone = next(c for c in ("Exten", "Context", "CallerIDName") if c in table.column_names)
    assert gone in analysis.CALL_KEYS
    pq.write_table(table.drop_columns([gone]), f)  # the other day still has it
    h = open_history(tmp_path)
    fresh = h.calls(cache=False, workers=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a day that could not be stored warns
        cold = h.calls(workers=1)
    plan = h.last_calls_plan
    assert plan is not None and len(plan.computed) == 2 and len(plan.written) == 2 and not plan.from_events
    pd.testing.assert_frame_equal(fresh, cold, check_exact=True)


def test_a_remainder_without_a_key_the_archive_has(tmp_path: Path) -> None:
    """The remainder's files (an edge day here; today's first files in life) may lack a key the stored days
    have: the checks over them name only their own columns, and the table equals the one from the events.
    (The default mix: two simulator runs reuse Local channel names, which buckets mixing both would pair.)"""
    for k in range(2):
        archive_reads(tmp_path, sim_reads(1200, rate=200, seed=8 + k, start=MID + k * 86400 + 3600),
                      pbx="lab")
    compact(tmp_path)
    day1 = sorted((tmp_path / "pbx=lab").glob("date=*"))[1]
    (f,) = day1.glob("*.parquet")
    table = pq.read_table(f)
    assert "Variable" in table.column_names
    keep = pc.invert(pc.equal(table["Event"], "VarSet")).combine_chunks()
    pq.write_table(table.filter(keep).drop_columns(["Variable"]), f)  # the day as if no VarSet had come yet
    h = open_history(tmp_path)
    end = MID + 86400 + 7200  # the second day partly inside: from its events, beside the first day's table
    h.materialize(workers=1)
    fresh = h.calls(end=end, margin=0, cache=False, workers=1)
    got = h.calls(end=end, margin=0, workers=1)
    plan = h.last_calls_plan
    assert plan is not None and plan.from_rollups == [("lab", "2023-11-15")] and plan.from_events
    pd.testing.assert_frame_equal(fresh, got, check_exact=True)

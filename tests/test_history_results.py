"""The result side of History.calls: compact bucket tables, the Arrow combine and sort, and ``out=`` Parquet."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_history import archive_reads, sim_reads

from ami_nb import analysis
from ami_nb.history import open as open_history
from ami_nb.history import results
from ami_nb.history.buckets import plan_tasks, run_task
from ami_nb.store import EventStore


@pytest.fixture(scope="module")
def two_pbxs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    """Two PBXs with the same seed (the same call ids and starts: ties the sort must break by PBX), and the
    in-memory analysis of each as the reference."""
    root = tmp_path_factory.mktemp("arch")
    want = []
    for pbx in ("b", "a"):
        store = archive_reads(root, sim_reads(3600, rate=200, seed=3), pbx=pbx, store=EventStore())
        want.append(analysis.calls(store.frame()).assign(pbx=pbx))
    ref = pd.concat(want, ignore_index=True)
    ref = ref[["pbx", *analysis.calls(pd.DataFrame()).columns]].astype({"pbx": "str"})
    ref = ref.sort_values(["start", "linkedid", "pbx"], kind="stable").reset_index(drop=True)
    return root, ref


def test_compact_tables_round_trip_to_the_same_frame(two_pbxs: tuple[Path, pd.DataFrame]) -> None:
    root, ref = two_pbxs
    h = open_history(root)
    tasks = plan_tasks(h.con, str(root), "true", bucket_rows=1_500, calls_only=True)
    assert len(tasks) >= 4
    frames = [run_task(t, h.con) for t in tasks]
    parts = [results.compact(f) for f in frames]
    # repeated texts travel as dictionary codes, per-call ids as they are
    big = max(parts, key=lambda p: p.num_rows)
    assert big.num_rows >= 20
    assert pa.types.is_dictionary(big.schema.field("disposition").type)
    assert not pa.types.is_dictionary(big.schema.field("linkedid").type)
    assert sum(p.nbytes for p in parts) < sum(f.memory_usage(deep=True).sum() for f in frames)
    got = results.combine(parts)
    assert parts == []  # combine consumed the parts
    pd.testing.assert_frame_equal(ref, got, check_exact=True)
    assert dict(got.dtypes.astype(str)) == {c: str(pd.api.types.pandas_dtype(d)) for c, d in results.dtypes().items()}


def test_calls_in_memory_and_to_parquet_equal_the_in_memory_analysis(two_pbxs: tuple[Path, pd.DataFrame],
                                                                     tmp_path: Path) -> None:
    root, ref = two_pbxs
    h = open_history(root)
    for workers in (1, 2):
        pd.testing.assert_frame_equal(ref, h.calls(bucket_rows=1_500, workers=workers), check_exact=True)
    # a period: the calls that started in it (bounds applied per bucket on the way to Parquet)
    mid, late = ref["start"].iloc[len(ref) // 3], ref["start"].iloc[2 * len(ref) // 3]
    want = ref[(ref["start"] >= mid) & (ref["start"] < late)].reset_index(drop=True)
    pd.testing.assert_frame_equal(want, h.calls(start=mid, end=late, bucket_rows=1_500, workers=1))
    for workers in (1, 2):
        out = h.calls(start=mid, end=late, bucket_rows=1_500, workers=workers, out=tmp_path / f"d{workers}")
        assert out == tmp_path / f"d{workers}" and len(list(out.glob("part-*.parquet"))) >= 2
        pd.testing.assert_frame_equal(want, results.read(out), check_exact=True)
        plain = pd.read_parquet(out).sort_values(["start", "linkedid", "pbx"], kind="stable")
        pd.testing.assert_frame_equal(want, plain.reset_index(drop=True), check_dtype=False)
    one = h.calls(bucket_rows=1_500, workers=1, out=tmp_path / "all.parquet")
    assert pq.ParquetFile(one).metadata.num_row_groups >= 2
    pd.testing.assert_frame_equal(ref, results.read(one), check_exact=True)
    with pytest.raises(FileExistsError):  # never mixes two results in one directory
        h.calls(bucket_rows=1_500, workers=1, out=tmp_path / "d1")


def test_no_calls(tmp_path: Path) -> None:
    root = tmp_path / "arch"
    archive_reads(root, sim_reads(600, rate=200))
    h = open_history(root)
    empty = analysis.calls(pd.DataFrame())
    got = h.calls(start="2000-01-01", end="2000-01-02")
    assert len(got) == 0 and list(got.columns) == ["pbx", *empty.columns]
    pd.testing.assert_frame_equal(got.drop(columns=["pbx"]), empty)
    out = h.calls(start="2000-01-01", end="2000-01-02", out=tmp_path / "none")
    pd.testing.assert_frame_equal(results.read(out), got)


def test_a_write_that_fails_midway_leaves_no_result(two_pbxs: tuple[Path, pd.DataFrame], tmp_path: Path) -> None:
    """A bucket failing after others were written: the error propagates, nothing at the target looks like a
    result (no temporary left either), an older file result stays whole; a directory without its marker (a run
    killed midway) is refused by read."""
    root, ref = two_pbxs
    h = open_history(root)
    tasks = plan_tasks(h.con, str(root), "true", bucket_rows=1_500, calls_only=True)
    parts = [results.compact(run_task(t, h.con)) for t in tasks]
    assert len(parts) >= 4

    def failing() -> Iterator[pa.Table]:
        yield from parts[:2]
        raise RuntimeError("bucket 3 failed")

    older = results.write(list(parts), tmp_path / "old.parquet")
    for target in (tmp_path / "dir", tmp_path / "one.parquet", older):
        with pytest.raises(RuntimeError, match="bucket 3 failed"):
            results.write(failing(), target)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["old.parquet"]
    pd.testing.assert_frame_equal(ref, results.read(older), check_exact=True)
    # an existing file is replaced; a directory result read back whole, then refused without its marker
    pd.testing.assert_frame_equal(ref, results.read(results.write(list(parts), older)), check_exact=True)
    done = results.write(list(parts), tmp_path / "dir")
    assert (done / results.DONE).is_file()
    assert len(list(done.glob("part-*.parquet"))) == sum(1 for p in parts if p.num_rows)
    pd.testing.assert_frame_equal(ref, results.read(done), check_exact=True)
    (done / results.DONE).unlink()
    with pytest.raises(ValueError, match=r"incomplete result directory .* \(the run did not finish\)"):
        results.read(done)
    with pytest.raises(FileExistsError):
        results.write(list(parts), done)


def test_period_bounds_are_whole_microseconds_and_a_missing_result_is_an_error(tmp_path):
    """A bound given as float epoch seconds is the archive's microsecond, never a few ns past it (a call
    starting exactly at ``start`` would be dropped); reading a result that was never written says so."""
    import random

    from ami_nb.history import results
    from ami_nb.history.reader import _ts

    rng = random.Random(7)
    for _ in range(2000):
        us = 1_798_761_600_000_000 + rng.randrange(86_400_000_000)
        exact = pd.Timestamp(us, unit="us", tz="UTC")
        assert _ts(us / 1e6) == exact
        assert _ts(exact.isoformat()) == exact
    with pytest.raises(FileNotFoundError, match="no calls written"):
        results.read(tmp_path / "never")

"""What makes History.calls() fast must not change its table: the keys and rows it leaves on disk, and the worker
processes it runs buckets on. Simulated traffic through real Parquet files and DuckDB."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from test_history import archive_reads, sim_reads

from ami_nb import analysis
from ami_nb.analysis._events import NOT_CALL_EVENTS
from ami_nb.history import open as open_history
from ami_nb.store import EventStore

#: The simulator's topologies that move channels between Linkedids, beside queues and plain calls.
MIX = {"answered": 0.2, "attended": 0.15, "blonde": 0.1, "pickup": 0.1, "queue": 0.2, "abandon": 0.05,
       "busy": 0.05, "ringgroup": 0.05, "followme": 0.05, "click2dial": 0.05}


def _frame(seed: int, mix: dict[str, float] | None) -> pd.DataFrame:
    store = EventStore()
    for events, received in sim_reads(1800, rate=300, seed=seed, mix=mix):
        store.extend(events, received)
    return store.frame()


@pytest.mark.parametrize(("seed", "mix"), [(4, MIX), (7, None)])
def test_calls_read_only_their_keys_and_rows(seed: int, mix: dict[str, float] | None) -> None:
    """analysis.calls() of only CALL_KEYS, without the rows the bucket reader leaves on disk (snapshot and CEL
    events, rows of no call, VarSets other than QUEUESTATUS), is the table of the whole frame."""
    frame = _frame(seed, mix)
    want = analysis.calls(frame)
    assert len(want) > 100 and want["disposition"].nunique() >= 3
    if mix is not None:
        assert {"attended", "blonde"} <= set(want["transfer_type"].dropna())
    keys = [c for c in frame.columns if c == "received" or c in analysis.CALL_KEYS]
    assert len(keys) < len(frame.columns) / 2  # the projection leaves most keys out
    ev = frame["Event"].astype("str")
    var = frame["Variable"].map(lambda v: v[0] if isinstance(v, tuple) else v).astype("str")
    ids = frame[[c for c in frame.columns if c.endswith("Linkedid")]].notna().any(axis=1)
    rows = ~ev.isin(NOT_CALL_EVENTS) & ids & ((ev != "VarSet") | (var == "QUEUESTATUS"))
    assert rows.mean() < 0.8
    got = analysis.calls(frame.loc[rows, keys].reset_index(drop=True))
    pd.testing.assert_frame_equal(want, got)


def test_worker_processes_give_the_in_process_table(tmp_path: Path) -> None:
    """Buckets on two worker processes, joined calls among them: the same table as one process."""
    archive_reads(tmp_path, sim_reads(1800, rate=240, seed=1, mix=MIX), pbx="east")
    archive_reads(tmp_path, sim_reads(900, rate=200, seed=3), pbx="west")
    h = open_history(tmp_path)
    one = h.calls(bucket_rows=3_000, workers=1)
    assert len(one) > 100 and set(one["pbx"]) == {"east", "west"}
    pd.testing.assert_frame_equal(one, h.calls(bucket_rows=3_000, workers=2))


def test_worker_processes_from_a_busy_kernel(tmp_path: Path) -> None:
    """As in a notebook: a session's loop thread, its archive writer and a listener's worker thread are running,
    and events arrive, while History.calls() starts its worker processes (from a fork server, never forking this
    process with its threads and locks): the same table as in process."""
    import ami_nb

    archive_reads(tmp_path / "old", sim_reads(900, rate=240, seed=2, mix=MIX), pbx="east")
    h = open_history(tmp_path / "old")
    with ami_nb.sim.start() as pbx, ami_nb.connect(pbx.url, secret=pbx.users["admin"].secret, timeout=10) as s:
        s.archive(tmp_path / "live", pbx="live", flush_seconds=0.05)
        s.on("*", lambda e: None)
        pbx.start_traffic(rate=3600)
        many = h.calls(bucket_rows=2_000, workers=2)
        assert s.stats["events_received"] > 0
    pd.testing.assert_frame_equal(h.calls(bucket_rows=2_000, workers=1), many)

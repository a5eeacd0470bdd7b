"""Every analysis table comes out in its one declared schema, empty or filled (ami_nb.analysis.schemas)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from ami_nb import analysis as A
from ami_nb.analysis import schemas
from ami_nb.recording import read_transcript

T = Path(__file__).parent / "fixtures" / "transcripts"

TABLES: list[tuple[str, Callable[[pd.DataFrame], pd.DataFrame], schemas.Schema]] = [
    ("calls", A.calls, schemas.CALLS),
    ("channels", A.channels, schemas.CHANNELS),
    ("queue_stats", A.queue_stats, schemas.QUEUES),
    ("agents", lambda e: A.queue_stats(e, by="agent"), schemas.AGENTS),
    ("concurrency", lambda e: A.concurrency(e, "1s"), schemas.CONCURRENCY),
    ("cdrs", A.cdrs, schemas.CDRS),
    ("queue_stints", A.queue_stints, schemas.QUEUE_STINTS),
    ("transfers", A.transfers, schemas.TRANSFERS),
    ("disposition_summary", A.disposition_summary, schemas.DISPOSITION_SUMMARY),
]


def _dtypes(df: pd.DataFrame) -> dict[str, str]:
    return {c: str(d) for c, d in df.dtypes.items()}


@pytest.mark.parametrize(("name", "fn", "schema"), TABLES, ids=[t[0] for t in TABLES])
@pytest.mark.parametrize(
    "source",
    [
        "empty",
        "no columns",
        "19_originate_async_100.txt",
        "17_queuestatus.txt",
        "42_queue_timeout.txt",
        "45_attended_transfer.txt",
    ],
)
def test_table_has_its_schema(
    name: str, fn: Callable[[pd.DataFrame], pd.DataFrame], schema: schemas.Schema, source: str
) -> None:
    if source == "empty":
        events = pd.DataFrame({"received": pd.Series([], dtype="datetime64[ns, UTC]")})
    elif source == "no columns":
        events = pd.DataFrame()
    else:
        events = read_transcript(T / source)
    out = fn(events)
    assert _dtypes(out) == dict(schema.columns), name
    assert list(out.index.names) == (list(schema.index) or [None])


def test_apply_names_the_missing_column() -> None:
    with pytest.raises(ValueError, match=r"calls table lacks column\(s\) \['start'"):
        schemas.CALLS.apply(pd.DataFrame({"linkedid": ["1"]}))


def test_empty_index_dtypes() -> None:
    assert str(schemas.CONCURRENCY.empty().index.dtype) == "datetime64[ns, UTC]"
    idx = schemas.AGENTS.empty().index
    assert list(idx.names) == ["queue", "agent"] and len(idx) == 0

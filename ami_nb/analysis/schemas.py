"""One schema per output table: the column order and dtypes, used for the empty table and the filled one alike.

Why: a table's columns were listed up to four times (the empty frame, the times, the texts, the result), and the
copies drifted. Here each table is declared once; :meth:`Schema.empty` and :meth:`Schema.apply` both read it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

#: The dtype names the schemas use (pandas spellings).
TIME = "datetime64[ns, UTC]"
TEXT = "str"  # pandas strings, missing values NaN
FLOAT = "float64"
COUNT = "int64"
CODE = "Int64"  # an integer that may be missing
FLAG = "bool"


@dataclass(frozen=True)
class Schema:
    """A table's columns in display order, each with its dtype; optionally an index (name -> dtype)."""

    name: str
    columns: Mapping[str, str]
    index: Mapping[str, str] = field(default_factory=dict)

    def empty(self) -> pd.DataFrame:
        """The table with no rows, already in its dtypes."""
        df = pd.DataFrame({c: pd.Series([], dtype=d) for c, d in self.columns.items()})
        if len(self.index) == 1:
            ((name, dtype),) = self.index.items()
            df.index = pd.Index([], dtype=dtype, name=name)
        elif self.index:
            df.index = pd.MultiIndex.from_arrays(
                [pd.Index([], dtype=d) for d in self.index.values()], names=list(self.index)
            )
        return df

    def apply(self, df: pd.DataFrame) -> pd.DataFrame:
        """``df`` with exactly this schema's columns, in order and in their dtypes (a missing column is an error)."""
        missing = [c for c in self.columns if c not in df.columns]
        if missing:
            raise ValueError(f"{self.name} table lacks column(s) {missing}")
        out = df[list(self.columns)]
        return out.astype(dict(self.columns))


CHANNELS = Schema(
    "channels",
    {
        "uniqueid": TEXT,
        "linkedid": TEXT,
        "channel": TEXT,
        "created": TIME,
        "answered": TIME,
        "hungup": TIME,
        "duration": FLOAT,
        "talk": FLOAT,
        "cause": CODE,
        "cause_txt": TEXT,
        "context": TEXT,
        "exten": TEXT,
        "caller_num": TEXT,
        "caller_name": TEXT,
        "state": TEXT,
        "partial": FLAG,
    },
)

CALLS = Schema(
    "calls",
    {
        "linkedid": TEXT,
        "start": TIME,
        "answer": TIME,
        "end": TIME,
        "wait": FLOAT,
        "talk": FLOAT,
        "duration": FLOAT,
        "caller_num": TEXT,
        "caller_name": TEXT,
        "dialled": TEXT,
        "answered_by": TEXT,
        "disposition": TEXT,
        "cause": CODE,
        "cause_txt": TEXT,
        "queue": TEXT,
        "agent": TEXT,
        "queue_wait": FLOAT,
        "transferred": FLAG,
        "channels": COUNT,
        "partial": FLAG,
        "in_progress": FLAG,
        "caller_channel": TEXT,
        "hop": TEXT,
        "queues": TEXT,
        "queue_outcome": TEXT,
        "transfer_type": TEXT,
        "transferer": TEXT,
        "transfer_target": TEXT,
        "transfer_time": TIME,
        "transfer_linkedid": TEXT,
        "before_transfer": FLOAT,
        "after_transfer": FLOAT,
        "linkedids": TEXT,
    },
)

TRANSFERS = Schema(
    "transfers",
    {
        "time": TIME,
        "transfer_type": TEXT,
        "linkedid": TEXT,
        "other_linkedid": TEXT,
        "transferer": TEXT,
        "transferee": TEXT,
        "target": TEXT,
        "extension": TEXT,
    },
)

QUEUES = Schema(
    "queue_stats",
    {
        "offered": COUNT,
        "answered": COUNT,
        "abandoned": COUNT,
        "timed_out": COUNT,
        "exited_with_key": COUNT,
        "join_empty": COUNT,
        "leave_empty": COUNT,
        "full": COUNT,
        "wait_mean": FLOAT,
        "wait_p90": FLOAT,
        "service_level": FLOAT,
    },
    index={"queue": TEXT},
)

QUEUE_STINTS = Schema(
    "queue_stints",
    {
        "linkedid": TEXT,
        "uniqueid": TEXT,
        "stint": COUNT,
        "queue": TEXT,
        "joined": TIME,
        "left": TIME,
        "wait": FLOAT,
        "outcome": TEXT,
        "agent": TEXT,
        "interface": TEXT,
        "partial": FLAG,
    },
)

AGENTS = Schema(
    "queue_stats(by='agent')",
    {
        "offered": COUNT,
        "answered": COUNT,
        "ring_no_answer": COUNT,
        "answer_rate": FLOAT,
        "wait_mean": FLOAT,
        "wait_p90": FLOAT,
        "talk_mean": FLOAT,
    },
    index={"queue": TEXT, "agent": TEXT},
)

CONCURRENCY = Schema("concurrency", {"active": COUNT, "peak": COUNT, "started": COUNT}, index={"time": TIME})

CDRS = Schema(
    "cdrs",
    {
        "uniqueid": TEXT,
        "channel": TEXT,
        "destination_channel": TEXT,
        "source": TEXT,
        "destination": TEXT,
        "disposition": TEXT,
        "start": "datetime64[ns]",
        "answer": "datetime64[ns]",
        "end": "datetime64[ns]",
        "duration": CODE,
        "billsec": CODE,
    },
)

DISPOSITION_SUMMARY = Schema(
    "disposition_summary",
    {"calls": COUNT, "share": FLOAT, "wait_mean": FLOAT, "wait_p90": FLOAT, "talk_mean": FLOAT},
    index={"disposition": TEXT},
)

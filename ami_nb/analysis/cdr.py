"""Asterisk's own CDRs (``Cdr`` events from cdr_manager) as a table, to check :func:`calls` against."""

from __future__ import annotations

import pandas as pd

from . import schemas
from ._events import col, num

#: A CDR's Disposition in the terms of :data:`ami_nb.analysis.DISPOSITIONS`.
CDR_DISPOSITIONS = {
    "ANSWERED": "answered",
    "BUSY": "busy",
    "NO ANSWER": "no answer",
    "FAILED": "failed",
    "CONGESTION": "failed",
}


def cdrs(events: pd.DataFrame) -> pd.DataFrame:
    """The ``Cdr`` events (cdr_manager) as a table: ``uniqueid``, ``channel``, ``source``, ``destination``,
    ``disposition`` (mapped to :data:`DISPOSITIONS`), ``start``/``answer``/``end`` (as the server's local time,
    naive), ``duration`` and ``billsec`` (whole seconds)."""
    ev = col(events, "Event") if len(events) else pd.Series([], dtype=object)
    c = events[ev.eq("Cdr").to_numpy()] if len(events) else events
    uid = col(c, "UniqueID")
    if "Uniqueid" in c.columns:
        uid = uid.fillna(col(c, "Uniqueid"))

    def when(name: str) -> pd.Series:
        text = col(c, name)
        return pd.to_datetime(text.where(text != ""), errors="coerce", format="%Y-%m-%d %H:%M:%S")

    out = pd.DataFrame(
        {
            "uniqueid": uid,
            "channel": col(c, "Channel"),
            "destination_channel": col(c, "DestinationChannel"),
            "source": col(c, "Source"),
            "destination": col(c, "Destination"),
            "disposition": col(c, "Disposition").map(CDR_DISPOSITIONS),
            "start": when("StartTime"),
            "answer": when("AnswerTime"),
            "end": when("EndTime"),
            "duration": num(c, "Duration"),
            "billsec": num(c, "BillableSeconds"),
        }
    )
    return schemas.CDRS.apply(out).reset_index(drop=True)

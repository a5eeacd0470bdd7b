"""Trunks: ASR, ACD and NER per outbound trunk and per inbound DID, and the trunks the traffic needs.

A *seizure* is one attempt to use a trunk: for outbound traffic each ``DialBegin`` whose destination channel is
on the trunk; for inbound traffic each channel the trunk created (a channel on the trunk that no ``DialBegin``
made), grouped by the number it called (its first ``Exten``, the DID).

* **ASR** (answer-seizure ratio, ITU-T E.411) = answered seizures ÷ seizures.
* **NER** (network effectiveness ratio, ITU-T E.425) = (answered + busy + no answer + caller cancelled)
  ÷ seizures: the share the network delivered to the far end, whatever the far end then did; only network
  failures (congestion, channel unavailable, ...) count against it.
* **ACD** (average call duration) = talk seconds of answered seizures ÷ answered seizures.

Which devices are trunks: by default every channel technology/peer that is not ``Local`` (``PJSIP/provider``,
``SIP/carrier``, ``IAX2/hq``); pass ``trunks=`` (a regular expression over the device name, or a list of device
names) to choose.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np
import pandas as pd

from ._events import col, device
from ._events import event_times as times

__all__ = ["TRUNK_OUTCOMES", "trunks"]

_OUTCOME = {
    "ANSWER": "answered",
    "BUSY": "busy",
    "NOANSWER": "no answer",
    "CANCEL": "cancelled",
}
#: Seizure outcomes, in display order: the first four count as effective for NER.
TRUNK_OUTCOMES = ["answered", "busy", "no answer", "cancelled", "failed"]
_EFFECTIVE = ("answered", "busy", "no answer", "cancelled")
_COLUMNS = ["direction", "trunk", "did", "seizures", *TRUNK_OUTCOMES, "asr", "ner", "acd", "minutes"]


def _is_trunk(devices: pd.Series, trunks: str | Iterable[str] | None) -> pd.Series:
    if trunks is None:
        return devices.notna() & ~devices.str.startswith("Local/", na=True)
    if isinstance(trunks, str):
        rx = re.compile(trunks)
        return devices.map(lambda d: bool(isinstance(d, str) and rx.search(d)))
    names = set(trunks)
    return devices.isin(names)


def trunks(events: pd.DataFrame, *, trunks: str | Iterable[str] | None = None) -> pd.DataFrame:
    """One row per outbound trunk and per inbound (trunk, DID): seizures, their outcomes, ASR, NER, ACD and the
    answered minutes (definitions in the module docstring)."""
    if events is None or len(events) == 0 or "Event" not in events.columns:
        return _empty()
    events = events.reset_index(drop=True)
    ev = col(events, "Event")
    t = times(events)
    uid = col(events, "Uniqueid")
    hangup_at = t[ev == "Hangup"].groupby(uid[ev == "Hangup"]).max()

    # outbound: DialBegin to a trunk device, its DialEnd, then the destination's Hangup
    begin = ev == "DialBegin"
    dests = col(events, "DestUniqueid")
    out_rows = pd.DataFrame({"dest": dests[begin], "trunk": device(col(events, "DestChannel")[begin]), "t0": t[begin]})
    out_rows = out_rows[_is_trunk(out_rows["trunk"], trunks).to_numpy() & out_rows["dest"].notna().to_numpy()]
    end = ev == "DialEnd"
    ends = pd.DataFrame({"dest": dests[end], "status": col(events, "DialStatus")[end], "t1": t[end]})
    # the first DialEnd is the outcome: app_queue follows a NOANSWER with a CANCEL for the same ring (40, 42)
    ends = ends.drop_duplicates("dest", keep="first").set_index("dest")
    out_rows = out_rows.join(ends, on="dest")
    out_rows["outcome"] = out_rows["status"].map(_OUTCOME).fillna("failed")
    answered = out_rows["outcome"] == "answered"
    out_rows["talk"] = ((out_rows["dest"].map(hangup_at) - out_rows["t1"]).dt.total_seconds()).where(answered)
    out_rows["direction"] = "outbound"
    out_rows["did"] = pd.NA

    # inbound: channels on a trunk that no DialBegin created; answered when they reached Up
    new = ev == "Newchannel"
    chans = pd.DataFrame(
        {"uid": uid[new], "trunk": device(col(events, "Channel")[new]), "did": col(events, "Exten")[new], "t0": t[new]}
    )
    dialled = set(dests[begin].dropna())
    chans = chans[_is_trunk(chans["trunk"], trunks).to_numpy() & ~chans["uid"].isin(dialled).to_numpy()]
    up = (ev == "Newstate") & ((col(events, "ChannelStateDesc") == "Up") | (col(events, "ChannelState") == "6"))
    answer_at = t[up].groupby(uid[up]).min()
    chans["t1"] = chans["uid"].map(answer_at)
    cause = pd.to_numeric(col(events, "Cause"), errors="coerce")
    hup_cause = cause[ev == "Hangup"].groupby(uid[ev == "Hangup"]).last()
    c = chans["uid"].map(hup_cause)
    # unanswered inbound seizures by their Q.850 cause: busy, no answer, cleared by the caller, else a failure
    chans["outcome"] = np.select(
        [chans["t1"].notna(), c == 17, c.isin((18, 19, 21)), c.isin((16, 31))],
        ["answered", "busy", "no answer", "cancelled"],
        default="failed",
    )
    chans["talk"] = (chans["uid"].map(hangup_at) - chans["t1"]).dt.total_seconds().where(chans["t1"].notna())
    chans["direction"] = "inbound"

    rows = pd.concat(
        [
            out_rows[["direction", "trunk", "did", "outcome", "talk"]],
            chans[["direction", "trunk", "did", "outcome", "talk"]],
        ],
        ignore_index=True,
    )
    if rows.empty:
        return _empty()
    rows["did"] = rows["did"].astype(object).where(rows["direction"] == "inbound", "")
    g = rows.groupby(["direction", "trunk", "did"], sort=True)
    out = g["outcome"].value_counts().unstack(fill_value=0).reindex(columns=TRUNK_OUTCOMES, fill_value=0)
    out.columns.name = None
    out.insert(0, "seizures", out.sum(axis=1))
    out["asr"] = out["answered"] / out["seizures"]
    out["ner"] = out[list(_EFFECTIVE)].sum(axis=1) / out["seizures"]
    talk = g["talk"].sum(min_count=1)
    out["acd"] = (talk / out["answered"]).where(out["answered"] > 0)
    out["minutes"] = talk.fillna(0.0) / 60
    out = out.reset_index()
    out["did"] = out["did"].replace("", pd.NA)
    return out[_COLUMNS]


def _empty() -> pd.DataFrame:
    df = pd.DataFrame({c: pd.Series(dtype=object) for c in _COLUMNS})
    for c in ("seizures", *TRUNK_OUTCOMES):
        df[c] = df[c].astype("int64")
    for c in ("asr", "ner", "acd", "minutes"):
        df[c] = df[c].astype(float)
    return df

"""Transfers: one row per successful BlindTransfer / AttendedTransfer, with the calls it joined.

Why its own module: a transfer is the one place where two calls meet. Asterisk reports it once (main/
stasis_bridges.c), naming channels, not calls; which call each channel belongs to comes from the channel graph
(:mod:`._legs`), since an attended transfer's consultation call has its own Linkedid until the bridges merge.
"""

from __future__ import annotations

import bisect

import numpy as np
import pandas as pd

from . import schemas
from ._events import TRANSFER_EVENTS, call_rows, col, device, event_times, ids
from ._legs import Legs, legs


def _field(x: pd.DataFrame, name: str) -> pd.Series:
    return ids(col(x, name))


def transfer_rows(events: pd.DataFrame, rows: pd.DataFrame, g: Legs) -> pd.DataFrame:
    """The successful transfers of ``events``, oldest first (columns as :data:`schemas.TRANSFERS`, plus
    ``seq``)."""
    if events is None or len(events) == 0 or "Event" not in events.columns:
        return _empty()
    events = events.reset_index(drop=True)
    ev = col(events, "Event")
    keep = ev.isin(TRANSFER_EVENTS).to_numpy()
    x = events.take(np.flatnonzero(keep))  # a take of the few rows (a boolean filter walks every row of each column)
    if x.empty:
        return _empty()
    ok = col(x, "Result").fillna("Success").eq("Success").to_numpy()
    x = x[ok]
    blind = col(x, "Event").eq("BlindTransfer")
    kind = pd.Series("attended", index=x.index, dtype=object)
    dest = col(x, "DestType")
    target_state = col(x, "TransferTargetChannelStateDesc")
    # blonde: completed while the target still rang (the target is still in Dial(): DestType App, or not Up)
    kind[(dest == "App") | (target_state.notna() & (target_state != "Up"))] = "blonde"
    kind[blind] = "blind"
    transferer_ch = col(x, "TransfererChannel").where(blind, col(x, "OrigTransfererChannel"))
    transferee = _field(x, "TransfereeUniqueid")
    first = _field(x, "TransfererUniqueid").where(blind, _field(x, "OrigTransfererUniqueid"))
    second = _field(x, "SecondTransfererUniqueid").where(~blind)

    def call_of(uid: pd.Series, linkedid: pd.Series) -> pd.Series:
        return g.owner_of(uid).fillna(linkedid)

    own = call_of(transferee, _field(x, "TransfereeLinkedid")).fillna(
        call_of(first, _field(x, "TransfererLinkedid").fillna(_field(x, "OrigTransfererLinkedid")))
    )
    other = call_of(second, _field(x, "SecondTransfererLinkedid"))
    other = other.where(other != own)
    seq = pd.Series(x.index.to_numpy(), index=x.index)  # the event's position in the frame, as rows' seq
    fields = {k: x[k].astype(object).tolist() for k in _TARGET_KEYS if k in x.columns}
    records = [dict(zip(fields, v, strict=True)) for v in zip(*fields.values(), strict=True)] if fields else \
        [{} for _ in range(len(x))]
    dials = _Dials(rows, g)
    found = [_target(g, dials, k, r, s) for k, r, s in zip(kind, records, seq, strict=True)]
    out = pd.DataFrame(
        {
            "time": event_times(x),
            "transfer_type": kind,
            "linkedid": own,
            "other_linkedid": other,
            "transferer": device(transferer_ch),
            "transferee": device(col(x, "TransfereeChannel")),
            "target": [t for t, _ in found],
            "extension": col(x, "Extension"),
            "seq": seq,
        }
    )
    out = out[out["linkedid"].notna()]
    typed = schemas.TRANSFERS.apply(out)
    target_uid = pd.Series([u for _, u in found], index=x.index, dtype=object)[out.index]
    return typed.assign(seq=out["seq"].to_numpy(), target_uid=target_uid.to_numpy()).reset_index(drop=True)


def _empty() -> pd.DataFrame:
    return schemas.TRANSFERS.empty().assign(seq=pd.Series([], dtype="int64"), target_uid=pd.Series([], dtype=object))


_TARGET_KEYS = ("TransfereeUniqueid", "Extension", "TransferTargetUniqueid", "SecondTransfererUniqueid",
                "TransferTargetChannel")


class _Dials:
    """Per channel (code), the DestUniqueid of each DialBegin it made, in order (built when first asked)."""

    def __init__(self, rows: pd.DataFrame, g: Legs) -> None:
        self.rows, self.g = rows, g
        self._by_uid: dict[int, tuple[list[int], list[str]]] | None = None

    def last_before(self, uid: int, seq: int) -> str | None:
        """The destination of ``uid``'s last DialBegin before ``seq`` that named one."""
        if self._by_uid is None:
            r = self.rows
            d = r[["seq", "DestUniqueid"]].assign(uid=self.g.uid)
            d = d[((r["ev"] == "DialBegin") & r["DestUniqueid"].notna()).to_numpy() & (self.g.uid >= 0)]
            self._by_uid = {}
            for u, sq, dest in zip(d["uid"].tolist(), d["seq"].tolist(), d["DestUniqueid"].tolist(), strict=True):
                e = self._by_uid.setdefault(u, ([], []))
                e[0].append(sq)
                e[1].append(dest)
        got = self._by_uid.get(uid)
        if got is None:
            return None
        i = bisect.bisect_left(got[0], seq)  # rows are in seq order
        return got[1][i - 1] if i else None


def _target(g: Legs, dials: _Dials, kind: str, r: dict[str, object], seq: int) -> tuple[str | None, str | None]:
    """Where the transferred party went: the endpoint it was bridged with after the transfer (blind: the
    extension when nobody answered), the attended target's endpoint, or for a blonde transfer without a target
    in the event, whom the consultation channel was dialling; and the target's channel (Uniqueid) when known."""

    def known(key: str) -> str | None:
        v = r.get(key)
        return v if isinstance(v, str) and v not in ("", "<unknown>") else None

    if kind == "blind":
        party = known("TransfereeUniqueid")
        if party is not None:
            code = g.code(party)
            mate = g.partner_of(code)
            side = {code, *([mate] if mate is not None else [])}
            b = g.first_peer_after(side, seq)
            if b is not None:
                return g.endpoint(b)[0], g.names[b]
        return known("Extension"), None
    uid = known("TransferTargetUniqueid")
    if uid is None:
        uid = dials.last_before(g.code(known("SecondTransfererUniqueid")), seq)
    if uid is not None and g.is_channel(g.code(uid)):
        return g.endpoint(g.code(uid))[0], uid
    ch = known("TransferTargetChannel")
    return (str(device(pd.Series([ch])).iloc[0]) if ch else None), uid


def transfers(events: pd.DataFrame) -> pd.DataFrame:
    """One row per successful transfer: ``time``, ``transfer_type`` (``blind``, ``attended``, ``blonde``: an
    attended transfer completed while the target still rang), ``linkedid`` (the transferred party's call),
    ``other_linkedid`` (an attended transfer's consultation call, when it had its own Linkedid), ``transferer``
    (the device that transferred), ``transferee`` (the transferred party's channel device), ``target`` (the
    endpoint the call went to, or a blind transfer's extension while nobody answered there), ``extension``."""
    rows = call_rows(events)
    out = transfer_rows(events, rows, legs(rows))
    return out.drop(columns=["seq", "target_uid"])

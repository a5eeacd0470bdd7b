"""Channels as a graph: which call each channel belongs to, its Local-channel partner, whom it was bridged with.

Why: on a real PBX a Linkedid is not a call. Asterisk gives every channel entering a bridge the oldest Linkedid
in it (``ast_bridge_channel_update_linkedids`` in main/bridge_channel.c), so after a pickup or an attended or
blonde transfer a channel created in one call hangs up under another one's Linkedid; and the party that answered
sits at the far end of a chain of Local channel pairs (caller -> ``Local/..;1``, ``Local/..;2`` -> phone). The
call tables follow channels (Uniqueid) through this graph instead of grouping rows by Linkedid alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from ._events import device

_LOCAL_HALF = r";[12]$"


@dataclass
class Legs:
    """The channel graph of one events frame (built by :func:`legs`).

    ``owner``: Uniqueid -> the call (Linkedid) it belongs to: the Linkedid it was created under, unless every
    channel created under that Linkedid moved on to one other call (a pickup's picking phone), which then owns
    them. ``device``: Uniqueid -> device (``PJSIP/201``). ``partner``: Uniqueid -> the other half of its Local
    pair. ``pairs``: who was bridged with whom (``a``, ``b``, ``seq`` of the first moment they shared a bridge),
    both directions, earliest first.
    """

    owner: pd.Series
    device: pd.Series
    partner: pd.Series
    pairs: pd.DataFrame
    has_bridges: bool

    def peers(self, uid: str, exclude: set[str]) -> list[str]:
        """Channels bridged with ``uid`` (earliest first), other than ``exclude``."""
        by_a = self._by_a
        if uid not in by_a:
            return []
        b = self._b
        return [b[i] for i in by_a[uid] if b[i] not in exclude]

    def first_peer_after(self, side: set[str], seq: int) -> str | None:
        """The first channel outside ``side`` bridged with one in it from after ``seq`` on (pairs' order)."""
        by_a, b, sq = self._by_a, self._b, self._seq
        rows = [i for a in side for i in by_a.get(a, ()) if sq[i] > seq and b[i] not in side]
        return b[min(rows)] if rows else None

    def partner_of(self, uid: str) -> str | None:
        """The other half of ``uid``'s Local pair, if it is one."""
        return self._partner.get(uid)

    # plain dicts and lists for the graph walks below (one channel at a time), built when first walked: most
    # calls never walk (their answering peer is no Local half), and a bucket's graph has tens of thousands of
    # channels
    @cached_property
    def _b(self) -> list[str]:
        return self.pairs["b"].tolist()

    @cached_property
    def _seq(self) -> list[int]:
        return self.pairs["seq"].tolist()

    @cached_property
    def _by_a(self) -> dict[str, list[int]]:
        by_a: dict[str, list[int]] = {}
        for i, a in enumerate(self.pairs["a"].tolist()):
            by_a.setdefault(a, []).append(i)
        return by_a

    @cached_property
    def _partner(self) -> dict[str, str]:
        return dict(zip(self.partner.index.tolist(), self.partner.tolist(), strict=True))

    @cached_property
    def _device(self) -> dict[str, object]:
        return dict(zip(self.device.index.tolist(), self.device.tolist(), strict=True))  # (to_dict: 7x slower)

    def endpoint(self, uid: str) -> tuple[str | None, str | None]:
        """The device at the far end of the Local chain that starts at ``uid``, and the first Local hop on the
        way (None when the chain is the endpoint itself).

        From a Local half, go to its partner and on to whom the partner was bridged with; a Local half whose
        partner is bridged with nobody answered itself (its dialplan did), so that Local device is the endpoint.
        """
        seen = {uid}
        cur = uid
        hop: str | None = None
        while True:
            mate = self._partner.get(cur)
            if mate is None or pd.isna(mate):
                break
            hop = hop or self._device.get(cur)  # type: ignore[assignment]
            seen.add(mate)
            nxt = self.peers(mate, seen)
            if not nxt:
                break
            cur = nxt[0]
            seen.add(cur)
        end = self._device.get(cur)
        return end, (hop if hop != end else None)  # type: ignore[return-value]


def legs(rows: pd.DataFrame) -> Legs:
    """The channel graph of :func:`~ami_nb.analysis._events.call_rows` output."""
    ch = rows[["uid", "lid", "Channel"]][rows["uid"].notna()]
    first = ch.drop_duplicates("uid", keep="first").set_index("uid")
    last_lid = ch.drop_duplicates("uid", keep="last").set_index("uid")["lid"]
    born = first["lid"]
    dev = device(first["Channel"])

    # A Linkedid all of whose channels ended under one other Linkedid was folded into that call.
    moved = pd.DataFrame({"born": born, "last": last_lid.reindex(born.index)})
    per_lid = moved.groupby("born")["last"].agg(["nunique", "first"])
    into = per_lid[(per_lid["nunique"] == 1) & (per_lid["first"] != per_lid.index)]["first"].to_dict()
    fold = {k: _final(into, k) for k in into}
    owner = born.map(lambda x: fold.get(x, x))

    # Local pairs: the same name but the ;1 / ;2 suffix.
    name = first["Channel"].astype(object)
    is_local = name.str.startswith("Local/", na=False) & name.str.contains(_LOCAL_HALF, regex=True, na=False)
    stem = name[is_local].str.replace(_LOCAL_HALF, "", regex=True)
    groups = stem.groupby(stem).groups
    partner: dict[str, str] = {}
    for members in groups.values():
        if len(members) == 2:
            a, b = members
            partner[a], partner[b] = b, a
    return Legs(
        owner=owner,
        device=dev.astype(object),
        partner=pd.Series(partner, dtype=object),
        pairs=_bridged_pairs(rows),
        has_bridges=bool((rows["ev"] == "BridgeEnter").any()),
    )


def _final(into: dict[str, str], lid: str) -> str:
    """Where a chain of folds ends (a fold into a call that was folded itself), cycles cut."""
    seen = {lid}
    while lid in into and into[lid] not in seen:
        lid = into[lid]
        seen.add(lid)
    return lid


def _bridged_pairs(rows: pd.DataFrame) -> pd.DataFrame:
    """(a, b, seq): channels that shared a bridge, from the first moment they did (both directions)."""
    ev = rows["ev"]
    br = rows[["ev", "uid", "BridgeUniqueid", "seq"]][
        ev.isin(("BridgeEnter", "BridgeLeave")) & rows["uid"].notna() & rows["BridgeUniqueid"].notna()
    ]
    empty = pd.DataFrame({"a": pd.Series([], dtype=object), "b": pd.Series([], dtype=object), "seq": []})
    if br.empty:
        return empty
    key = ["BridgeUniqueid", "uid"]
    enter = br[br["ev"] == "BridgeEnter"][[*key, "seq"]]
    leave = br[br["ev"] == "BridgeLeave"][[*key, "seq"]]
    enter = enter.assign(n=enter.groupby(key).cumcount())
    leave = leave.assign(n=leave.groupby(key).cumcount()).rename(columns={"seq": "out"})
    stay = enter.merge(leave, on=[*key, "n"], how="left")
    stay["out"] = stay["out"].fillna(np.inf)
    both = stay.merge(stay, on="BridgeUniqueid", suffixes=("_a", "_b"))
    both = both[both["uid_a"] != both["uid_b"]]
    start = np.maximum(both["seq_a"].to_numpy(), both["seq_b"].to_numpy())
    stop = np.minimum(both["out_a"].to_numpy(), both["out_b"].to_numpy())
    both = both.assign(seq=start)[start < stop]
    if both.empty:
        return empty
    out = both.rename(columns={"uid_a": "a", "uid_b": "b"})[["a", "b", "seq"]]
    out = out.sort_values("seq", kind="stable").drop_duplicates(["a", "b"])
    return out.astype({"a": object, "b": object}).reset_index(drop=True)

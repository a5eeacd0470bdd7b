"""Channels as a graph: which call each channel belongs to, its Local-channel partner, whom it was bridged with.

Why: on a real PBX a Linkedid is not a call. Asterisk gives every channel entering a bridge the oldest Linkedid
in it (``ast_bridge_channel_update_linkedids`` in main/bridge_channel.c), so after a pickup or an attended or
blonde transfer a channel created in one call hangs up under another one's Linkedid; and the party that answered
sits at the far end of a chain of Local channel pairs (caller -> ``Local/..;1``, ``Local/..;2`` -> phone). The
call tables follow channels (Uniqueid) through this graph instead of grouping rows by Linkedid alone.

The graph is kept on integer codes (one code space for Uniqueids and Linkedids, a Linkedid being its first
channel's Uniqueid): grouping, merging and looking up strings would hash every string again at each step, and a
bucket holds hundreds of thousands of rows. Strings come back only for the tables' output columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ._events import device

_LOCAL_HALF = r";[12]$"


@dataclass
class Legs:
    """The channel graph of one events frame (built by :func:`legs`), on codes: ``names[code]`` is the id.

    ``uid`` / ``lid``: each row's Uniqueid / Linkedid code (-1: none). ``channels``: the channels' codes in the
    order first seen. Per code: ``owner_code``, the call (Linkedid code) a channel belongs to: the Linkedid it was
    created under, unless every channel created under that Linkedid moved on to one other call (a pickup's
    picking phone), which then owns them (-1 for a code no channel has); ``device_of`` (``PJSIP/201``; None for a
    code no channel has); ``partner_code``, the other half of its Local pair (-1). ``pairs``: who was bridged with
    whom (codes ``a``, ``b``, ``seq`` of the first moment they shared a bridge), both directions, earliest first.
    """

    names: np.ndarray
    uid: np.ndarray
    lid: np.ndarray
    channels: np.ndarray
    owner_code: np.ndarray
    device_of: np.ndarray
    partner_code: np.ndarray
    pairs: pd.DataFrame
    has_bridges: bool

    def codes(self, ids: pd.Series) -> np.ndarray:
        """Strings -> codes (-1 for an id this frame's rows never carried, or a missing one); for the few rows of
        transfers (a dict lookup each)."""
        code = self._code
        return np.array([code.get(v, -1) for v in ids.tolist()], dtype=np.int64)

    def code(self, uid: str | None) -> int:
        """One string's code (-1: unknown or None)."""
        return self._code.get(uid, -1) if uid is not None else -1

    def is_channel(self, code: int) -> bool:
        return code >= 0 and self.owner_code[code] >= 0

    def owner_of(self, uid: pd.Series) -> pd.Series:
        """The call (Linkedid) owning each of these channels (Uniqueid strings), NaN for one not in the graph."""
        c = self.codes(uid)
        own = np.where(c >= 0, self.owner_code[np.maximum(c, 0)], -1)
        out = self.names[np.maximum(own, 0)].astype(object)
        out[own < 0] = np.nan
        return pd.Series(out, index=uid.index, dtype=object)

    @cached_property
    def owner(self) -> pd.Series:
        """Uniqueid -> the call (Linkedid) that owns it, as strings (for the tables that take it as a mapping)."""
        return pd.Series(self.names[self.owner_code[self.channels]], index=pd.Index(self.names[self.channels]),
                         dtype=object)

    def peers(self, uid: int, exclude: set[int]) -> list[int]:
        """Channels bridged with ``uid`` (earliest first), other than ``exclude``."""
        b = self._b
        return [b[i] for i in self._rows_of(uid) if b[i] not in exclude]

    def first_peer_after(self, side: set[int], seq: int) -> int | None:
        """The first channel outside ``side`` bridged with one in it from after ``seq`` on (pairs' order)."""
        b, sq = self._b, self._seq
        rows = [i for a in side for i in self._rows_of(a) if sq[i] > seq and b[i] not in side]
        return b[min(rows)] if rows else None

    def partner_of(self, uid: int) -> int | None:
        """The other half of ``uid``'s Local pair, if it is one."""
        mate = int(self.partner_code[uid]) if uid >= 0 else -1
        return mate if mate >= 0 else None

    # plain lists and dicts for the graph walks below (one channel at a time), built when first walked: most
    # calls never walk (their answering peer is no Local half)
    @cached_property
    def _code(self) -> dict[str, int]:
        return dict(zip(self.names.tolist(), range(len(self.names)), strict=True))

    @cached_property
    def _b(self) -> list[int]:
        return self.pairs["b"].tolist()

    @cached_property
    def _seq(self) -> list[int]:
        return self.pairs["seq"].tolist()

    @cached_property
    def _by_a(self) -> tuple[np.ndarray, np.ndarray]:
        """The pairs' ``a`` sorted, and each one's pair (stable: in pairs' order within an ``a``)."""
        a = self.pairs["a"].to_numpy()
        order = np.argsort(a, kind="stable")
        return a[order], order

    def _rows_of(self, a: int) -> list[int]:
        """The pairs (positions, earliest first) whose ``a`` is this channel."""
        sorted_a, order = self._by_a
        lo, hi = np.searchsorted(sorted_a, (a, a + 1))
        return order[lo:hi].tolist()

    def endpoint(self, uid: int) -> tuple[str | None, str | None]:
        """The device at the far end of the Local chain that starts at ``uid``, and the first Local hop on the
        way (None when the chain is the endpoint itself).

        From a Local half, go to its partner and on to whom the partner was bridged with; a Local half whose
        partner is bridged with nobody answered itself (its dialplan did), so that Local device is the endpoint.
        """
        seen = {uid}
        cur = uid
        hop: str | None = None
        while True:
            mate = self.partner_of(cur)
            if mate is None:
                break
            hop = hop or self.device_of[cur]
            seen.add(mate)
            nxt = self.peers(mate, seen)
            if not nxt:
                break
            cur = nxt[0]
            seen.add(cur)
        end = self.device_of[cur]
        return end, (hop if hop != end else None)


def id_codes(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each row's Uniqueid and Linkedid as codes in one space (-1: none), and the ids (``names[code]``).

    Uniqueids are coded first, so a channel's code orders channels as they were first seen."""
    n = len(rows)
    both = pa.concat_arrays([_arrow(rows["uid"]), _arrow(rows["lid"])])
    enc = both.dictionary_encode()  # codes in order of first appearance, as factorize gives them
    codes = pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    return codes[:n], codes[n:], enc.dictionary.to_numpy(zero_copy_only=False).astype(object)


def _arrow(s: pd.Series) -> pa.Array:
    """A text column as one Arrow large_string array (pandas may hold it in several chunks)."""
    arr = pa.array(s.astype("str").array, type=pa.large_string())
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


def _first_last(uid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The channels (codes, ascending: first seen first) and the row of each one's first and last row."""
    at = np.flatnonzero(uid >= 0)
    order = np.argsort(uid[at], kind="stable")
    sorted_uid = uid[at][order]
    starts = np.flatnonzero(np.r_[True, sorted_uid[1:] != sorted_uid[:-1]]) if len(at) else at
    ends = np.r_[starts[1:], len(at)] - 1 if len(at) else at
    return sorted_uid[starts], at[order[starts]], at[order[ends]]


def legs(rows: pd.DataFrame) -> Legs:
    """The channel graph of :func:`~ami_nb.analysis._events.call_rows` output."""
    uid, lid, names = id_codes(rows)
    size = len(names)
    channels, first, last = _first_last(uid)
    born, died = lid[first], lid[last]

    # A Linkedid all of whose channels ended under one other Linkedid was folded into that call: the earliest
    # and the latest code its channels ended under are the same one, not itself.
    low = np.full(size, size, dtype=np.int64)
    high = np.full(size, -1, dtype=np.int64)
    np.minimum.at(low, born, died)
    np.maximum.at(high, born, died)
    lids = np.flatnonzero((low == high) & (low != np.arange(size)))
    into = dict(zip(lids.tolist(), low[lids].tolist(), strict=True))
    owner = np.full(size, -1, dtype=np.int64)
    owner[channels] = born
    if into:
        fold = np.arange(size)
        for k in into:
            fold[k] = _final(into, k)
        owner[channels] = fold[born]

    channel = rows["Channel"].iloc[first].reset_index(drop=True)  # each channel's name, as first seen
    dev = np.full(size, None, dtype=object)  # None for a code no channel has (a Linkedid only)
    dev[channels] = device(channel).astype(object).to_numpy()
    return Legs(
        names=names,
        uid=uid,
        lid=lid,
        channels=channels,
        owner_code=owner,
        device_of=dev,
        partner_code=_local_partners(channels, channel, size),
        pairs=_bridged_pairs(rows, uid),
        has_bridges=bool((rows["ev"] == "BridgeEnter").any()),
    )


def _local_partners(channels: np.ndarray, channel: pd.Series, size: int) -> np.ndarray:
    """Per code, the other half of its Local pair (-1): the same name but the ;1 / ;2 suffix."""
    partner = np.full(size, -1, dtype=np.int64)
    name = _arrow(channel)  # Arrow's string kernels, not Python's
    local = pc.and_kleene(pc.starts_with(name, "Local/"), pc.match_substring_regex(name, _LOCAL_HALF))
    is_local = pc.fill_null(local, False).to_numpy(zero_copy_only=False)
    if not is_local.any():
        return partner
    stems = pc.replace_substring_regex(name.filter(pa.array(is_local)), _LOCAL_HALF, "")
    stem = pc.fill_null(stems.dictionary_encode().indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    halves = channels[is_local]
    order = np.argsort(stem, kind="stable")
    two = np.bincount(stem)[stem[order]] == 2  # a stem seen twice: a pair (the halves sorted next to each other)
    a, b = halves[order[two]][0::2], halves[order[two]][1::2]
    partner[a], partner[b] = b, a
    return partner


def _final(into: dict[int, int], lid: int) -> int:
    """Where a chain of folds ends (a fold into a call that was folded itself), cycles cut."""
    seen = {lid}
    while lid in into and into[lid] not in seen:
        lid = into[lid]
        seen.add(lid)
    return lid


def _bridged_pairs(rows: pd.DataFrame, uid: np.ndarray) -> pd.DataFrame:
    """(a, b, seq): channels (codes) that shared a bridge, from the first moment they did (both directions)."""
    ev = rows["ev"]
    sel = (ev.isin(("BridgeEnter", "BridgeLeave")) & rows["BridgeUniqueid"].notna()).to_numpy() & (uid >= 0)
    empty = pd.DataFrame({"a": pd.Series([], dtype=np.int64), "b": pd.Series([], dtype=np.int64),
                          "seq": pd.Series([], dtype=np.int64)})
    if not sel.any():
        return empty
    bridge, _ = pd.factorize(rows["BridgeUniqueid"][sel])
    br = pd.DataFrame({"bridge": bridge, "uid": uid[sel], "seq": rows["seq"].to_numpy()[sel]})
    is_enter = ev[sel].eq("BridgeEnter").to_numpy()
    key = ["bridge", "uid"]
    enter = br[is_enter]
    leave = br[~is_enter]
    enter = enter.assign(n=enter.groupby(key).cumcount())
    leave = leave.assign(n=leave.groupby(key).cumcount()).rename(columns={"seq": "out"})
    stay = enter.merge(leave, on=[*key, "n"], how="left")
    stay["out"] = stay["out"].fillna(np.inf)
    both = stay.merge(stay, on="bridge", suffixes=("_a", "_b"))
    both = both[both["uid_a"] != both["uid_b"]]
    start = np.maximum(both["seq_a"].to_numpy(), both["seq_b"].to_numpy())
    stop = np.minimum(both["out_a"].to_numpy(), both["out_b"].to_numpy())
    both = both.assign(seq=start)[start < stop]
    if both.empty:
        return empty
    out = both.rename(columns={"uid_a": "a", "uid_b": "b"})[["a", "b", "seq"]]
    out = out.sort_values("seq", kind="stable").drop_duplicates(["a", "b"])
    return out.reset_index(drop=True)

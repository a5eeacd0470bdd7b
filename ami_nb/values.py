"""One value-type policy for AMI values, used by every layer that turns text into typed columns.

AMI sends text only. Which keys become numbers, which become categories and which stay text is decided here and
nowhere else, so ``session.action("QueueStatus").to_frame()``, ``session.events.frame()`` and the analysis
functions give a key the same dtype. The rules, by key (:func:`column_kind`):

* ``"time"``: ``Timestamp`` (``timestampevents=yes``): epoch seconds -> ``datetime64[ns, UTC]``.
* ``"category"``: low-cardinality names and states (:data:`CATEGORICAL_KEYS`): ``category`` of strings.
* ``"text"``: identifiers and dialled digits (:data:`IDENTIFIER_SUFFIXES`: ``Uniqueid``, ``CallerIDNum``,
  ``Exten``…), secrets, and every key not listed: strings, never numbers. A key whose values merely look like
  numbers in one frame (``Digit``, ``Value``, ``AppData``) keeps one dtype whatever the data.
* ``"integer"``: counts, durations and epoch seconds (:data:`INTEGER_KEYS`): nullable ``Int64`` when every value
  of the column converts losslessly (:func:`convert_value`), else strings (``"016"`` or ``""`` keep the column
  text rather than lose a character).

A two-channel event prefixes the channel's keys (``DestPriority``, ``OrigTransfererChannelState``): prefixes are
stripped to find the rule. The lists come from the keys Asterisk 22 sends (the recordings) and its documentation.

Standard library only at import time; :func:`coerce_frame` imports pandas when called.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd

__all__ = [
    "CATEGORICAL_KEYS",
    "IDENTIFIER_SUFFIXES",
    "INTEGER_KEYS",
    "SECRET_KEYS",
    "ColumnKind",
    "coerce_frame",
    "column_kind",
    "convert",
    "convert_value",
    "integers",
    "is_identifier",
    "is_secret",
]

ColumnKind = Literal["time", "category", "integer", "text"]

#: Header names (lower case) whose values are credentials: hidden from reprs, HTML and logs.
SECRET_KEYS = frozenset({"secret", "key"})

#: Key endings (lower case) whose values are identifiers or dialled digits even when they look like numbers.
IDENTIFIER_SUFFIXES = (
    "uniqueid",
    "linkedid",
    "actionid",
    "calleridnum",
    "connectedlinenum",
    "callerid",
    "exten",
    "extension",
    "accountcode",
    "account",
    "src",
    "dst",
    "interface",
    "number",
)

#: Low-cardinality keys returned as ``category`` columns.
CATEGORICAL_KEYS = frozenset(
    {
        "Event", "Privilege", "ChannelState", "ChannelStateDesc", "Context", "Application", "Cause-txt",
        "Language", "EventName",
        "DialStatus", "Disposition", "AMAFlags", "BridgeType", "BridgeTechnology", "BridgeCreator", "Status",
        "StateDesc", "State", "Response", "Queue", "Strategy", "Paused", "Membership", "EventList", "Device",
        "Peer", "PeerStatus", "Class", "Severity", "Service", "Module", "ChannelType", "UserEvent",
        "ConnectedLineName", "CallerIDName", "DestCallerIDName", "DestConnectedLineName", "AccountCode",
        "LastApplication", "DestinationContext", "Source", "Destination",
    }
)  # fmt: skip

#: Keys that are quantities (counts, seconds, epoch seconds, priorities): ``Int64`` when every value converts.
INTEGER_KEYS = frozenset(
    {
        "Cause", "Priority", "Duration", "BillableSeconds", "ListItems", "Items", "Count",
        "Position", "OriginalPosition", "HoldTime", "TalkTime", "RingTime", "Wait", "Reason", "Seconds",
        "Penalty", "CallsTaken", "LastCall", "LastPause", "InCall", "Calls", "Holdtime", "Talktime", "Completed",
        "Abandoned", "ServiceLevel", "ServicelevelPerf", "Weight", "Max", "Available", "LoggedIn", "Callers",
        "LongestHoldTime", "NumChannels", "TimeToHangup", "Ringinuse", "Age", "LinkedidCount",
        # seen in the Asterisk 22 recordings: QueueMember, CoreStatus, Status, ShowDialPlanComplete, bridges
        "LoginTime", "Wrapuptime", "BridgeNumChannels", "DurationMs", "Uptime", "LastReload",
        "CoreCurrentCalls", "CoreMaxCalls", "CoreMaxFilehandles", "CoreProcessedCalls",
        "ListContexts", "ListExtensions", "ListPriorities",
    }
)  # fmt: skip

_TIME_KEYS = frozenset({"Timestamp"})
_PREFIXES = ("Dest", "LocalOne", "LocalTwo", "Transferer", "Transferee", "TransferTarget", "Orig", "Second",
             "From", "To")  # fmt: skip


def convert_value(value: str) -> int | str:
    """``"42"`` -> ``42``; anything whose int would not print back identically stays a string.

    ``"0123"``, ``""``, ``"+44"``, ``"1.5"``, ``"1700000000.510"`` and ``"-0"`` are returned unchanged.
    """
    s = value[1:] if value[:1] == "-" else value
    if s.isdigit() and s.isascii() and (s[0] != "0" or value == "0") and len(s) < 4000:
        return int(value)
    return value


def integers(values: Iterable[str]) -> list[int] | None:
    """Every value as an ``int`` that fits ``Int64``, or ``None`` when one does not convert losslessly."""
    out = []
    for v in values:
        c = convert_value(v) if type(v) is str else v
        if type(c) is not int or not -(2**63) <= c < 2**63:
            return None
        out.append(c)
    return out


def is_identifier(key: str) -> bool:
    """True for keys whose values are identifiers or dialled digits (see :data:`IDENTIFIER_SUFFIXES`)."""
    return key.lower().endswith(IDENTIFIER_SUFFIXES)


def is_secret(key: str) -> bool:
    """True for header names whose values must never be shown (``Secret``, ``Key``), in any case."""
    return key.lower() in SECRET_KEYS


@lru_cache(maxsize=4096)  # bounded: key names come from the server, and some embed a channel name
def column_kind(key: str) -> ColumnKind:
    """How a column of this key is typed: ``"time"``, ``"category"``, ``"integer"`` or ``"text"``."""
    if key in _TIME_KEYS:
        return "time"
    if key in CATEGORICAL_KEYS:
        return "category"
    if is_secret(key) or is_identifier(key):
        return "text"
    if key in INTEGER_KEYS:
        return "integer"
    for p in _PREFIXES:
        if key.startswith(p) and len(key) > len(p) and key[len(p)].isupper():
            kind = column_kind(key[len(p) :])
            return "text" if kind == "time" else kind
    return "text"


def convert(message: Mapping[str, str], keep_strings: Iterable[str] | None = None) -> dict[str, int | str]:
    """First values with lossless int conversion (DAMI's rule, made lossless): a message's values one by one.

    Keys named in ``keep_strings``, and identifiers (``Uniqueid``, ``CallerIDNum``, ``Exten``, ``ActionID``…
    see :data:`IDENTIFIER_SUFFIXES`), stay strings: ``"100"`` as an extension is dialled digits, not a quantity.
    This is the per-value view; columns follow :func:`column_kind`.
    """
    keep = {k.lower() for k in keep_strings} if keep_strings is not None else set()
    return {k: (v if (k.lower() in keep or is_identifier(k)) else convert_value(v)) for k, v in message.items()}


def coerce_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Apply the policy to a frame of AMI text columns (``None``/NaN: missing), in place; returns ``df``.

    The call for any layer that builds a frame from messages itself (``Response.to_frame``, analysis inputs);
    :class:`~ami_nb.store.EventStore` applies the same rules chunk by chunk. Columns holding anything but
    strings (lists of a repeated key, numbers already converted) are left as they are.
    """
    import numpy as np
    import pandas as pd

    for col in df.columns:
        if not isinstance(col, str):
            continue
        kind = column_kind(col)
        if kind == "text":
            continue
        s = df[col]
        if s.dtype.kind in "iufcmMb" or isinstance(s.dtype, pd.CategoricalDtype):
            continue
        present = s.notna().to_numpy()
        values = s[present].tolist()
        if not all(type(v) is str for v in values):
            continue
        if kind == "integer":
            ints = integers(values)
            if ints is None or not values:
                continue
            data = np.zeros(len(s), dtype=np.int64)
            data[present] = ints
            df[col] = pd.arrays.IntegerArray(data, ~present)
        elif kind == "category":
            df[col] = pd.Categorical(s, categories=pd.Index(list(dict.fromkeys(values)), dtype="str"))
        else:
            df[col] = epoch_to_utc(parse_epochs(s.where(s.notna(), "").tolist()))
    return df


def parse_epochs(values: Sequence[str]) -> np.ndarray:
    """``Timestamp`` texts (``"1700000000.510000"``) as float64 epoch seconds; NaN where one is not a number."""
    import numpy as np

    try:
        return np.array(values, dtype=np.float64)
    except (ValueError, TypeError):
        out = np.empty(len(values), dtype=np.float64)
        for i, v in enumerate(values):
            try:
                out[i] = float(v)
            except (ValueError, TypeError):
                out[i] = np.nan
        return out


def epoch_to_utc(seconds: np.ndarray) -> pd.DatetimeIndex:
    """Epoch seconds (float64, NaN: missing) -> UTC datetimes, rounded to the microsecond AMI writes."""
    import numpy as np
    import pandas as pd

    missing = np.isnan(seconds)
    us = np.where(missing, 0, seconds * 1e6).round().astype(np.int64)
    out = pd.to_datetime(us * 1000, utc=True)
    return out.where(~missing) if missing.any() else out

"""How list answers read in a notebook: a DataFrame that shows its constant columns once and scrolls.

``%%ami_action`` shows a list action (``QueueStatus``, ``ShowDialPlan``...) as a DataFrame. Every row repeats
the item event's name and our ActionID, and a wide frame wraps into a page-high wall; :class:`ListFrame` is
that DataFrame with a better ``_repr_html_`` (the data is untouched: operations give plain DataFrames).
"""

from __future__ import annotations

import html
from typing import Any

import pandas as pd

__all__ = ["CONSTANT_KEYS", "ListFrame", "list_frame_html"]

#: columns shown once in a caption when every row has the same value
CONSTANT_KEYS = ("Event", "ActionID", "EventList")
_ROWS = 60


def list_frame_html(frame: pd.DataFrame, max_rows: int = _ROWS) -> str:
    """Compact HTML of a list answer's frame: constant keys in a caption, small text, a scrolling box."""
    plain = pd.DataFrame(frame)
    same = [c for c in CONSTANT_KEYS if c in plain and len(plain) and plain[c].astype(str).nunique() <= 1]
    caption = " · ".join(f"{html.escape(c)}: <b>{html.escape(str(plain[c].iloc[0]))}</b>" for c in same)
    shown = plain.drop(columns=same)
    body = shown.head(max_rows).to_html(max_cols=None, na_rep="", border=0)
    more = len(shown) - max_rows
    tail = f"<div>… {more} more rows (the frame has them all)</div>" if more > 0 else ""
    return (f"<div style='font-size:11px'>{len(plain)} rows{' · ' + caption if caption else ''}</div>"
            f"<div style='max-height:420px;overflow:auto;white-space:nowrap;font-size:11px'>{body}</div>{tail}")


class ListFrame(pd.DataFrame):
    """A list action's items as a DataFrame, displayed compactly (see :func:`list_frame_html`)."""

    @property
    def _constructor(self) -> Any:
        return pd.DataFrame  # a selection or a computation is an ordinary frame again

    def _repr_html_(self) -> str | None:
        return list_frame_html(self)

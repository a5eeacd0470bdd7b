"""Shaped results of AMI actions: :class:`Response`, :class:`CommandOutput`, and :func:`shape_result`.

Pure data, no IO. pandas is imported only inside :meth:`Response.to_frame`.
"""

from __future__ import annotations

import html
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .protocol import Config, Message, command_output, parse_config, parse_config_json
from .values import coerce_frame, convert, is_secret

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["CommandOutput", "Response", "shape_result"]

_HTML_ROWS = 20


class Response(Mapping[str, str]):
    """The answer to one action: a read-only mapping over the response message.

    ``.message`` is the response :class:`~ami_nb.protocol.Message`; for a list action ``.list_items`` holds the
    item events (named after Asterisk's ``ListItems``; ``.events`` is the deprecated old name) and ``.complete``
    the closing ``...Complete`` event. ``.outcome()`` reaches an async ``Originate``'s
    ``OriginateResponse`` event (awaitable from the asyncio client, blocking from the sync ``Session``).
    """

    __slots__ = ("_outcome", "action", "action_id", "complete", "list_items", "message")

    def __init__(
        self,
        action: str,
        message: Message,
        list_items: Sequence[Message] = (),
        complete: Message | None = None,
        *,
        action_id: str | None = None,
        outcome: Callable[..., Any] | None = None,
    ) -> None:
        self.action = action
        self.message = message
        self.list_items: list[Message] = list(list_items)
        self.complete = complete
        self.action_id = action_id if action_id is not None else message.action_id
        self._outcome = outcome

    @property
    def events(self) -> list[Message]:
        """Deprecated: the item events of a list action, now :attr:`list_items` (``session.events`` is the store)."""
        warnings.warn("Response.events is now Response.list_items", DeprecationWarning, stacklevel=2)
        return self.list_items

    # -- mapping over the response message ------------------------------------------------------------------
    def __getitem__(self, key: str) -> str:
        return self.message[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.message)

    def __len__(self) -> int:
        return len(self.message)

    def __contains__(self, key: object) -> bool:
        return key in self.message

    def getall(self, key: str) -> list[str]:
        """Every value of a repeated key of the response message."""
        return self.message.getall(key)

    @property
    def ok(self) -> bool:
        """False only for ``Response: Error``."""
        return (self.message.response or "").lower() != "error"

    @property
    def is_list(self) -> bool:
        return self.complete is not None or bool(self.list_items)

    def outcome(self, timeout: float | None = None) -> Any:
        """The ``OriginateResponse`` event of an async ``Originate`` (awaitable or blocking, see the class doc)."""
        if self._outcome is None:
            raise TypeError(f"{self.action} has no outcome to wait for (only Originate has one)")
        return self._outcome(timeout)

    def with_outcome(self, outcome: Callable[..., Any] | None) -> Response:
        """A copy whose :meth:`outcome` calls ``outcome(timeout)`` (the session swaps in a blocking one)."""
        return Response(
            self.action, self.message, self.list_items, self.complete, action_id=self.action_id, outcome=outcome
        )

    # -- conversions ----------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The response as a plain dict; a repeated key maps to a list of its values."""
        return self.message.to_dict(multi=True)

    def converted(self) -> dict[str, int | str]:
        """The response's first values with DAMI's int conversion, made lossless (``"0123"`` stays a string)."""
        return convert(self.message)

    def to_frame(self, *, convert: bool = True) -> pd.DataFrame:
        """A DataFrame with one row per item event (one row for the response itself when not a list).

        With ``convert`` the columns follow the one type policy of :mod:`ami_nb.values` (the dtypes
        ``session.events.frame()`` gives the same keys): quantities (``Calls``, ``Holdtime``, ``Penalty``,
        ``LoginTime``…) become ``Int64`` when every value converts losslessly, names and states ``category``;
        identifiers (``Uniqueid``, ``CallerIDNum``, ``Exten``…) and any quantity column holding one ``"0123"``,
        ``""`` or ``"1.5"`` stay text. A repeated key gives a list in its cell.
        """
        import pandas as pd

        rows = self.list_items if self.is_list else [self.message]
        frame = pd.DataFrame([m.to_dict(multi=True) for m in rows])
        if convert:
            coerce_frame(frame)
        return frame

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Response):
            return self.message == other.message and self.list_items == other.list_items
        return self.message == other

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        status = self.message.response or "?"
        text = self.message.get("Message")
        parts = [f"{self.action} {status}"]
        if text:
            parts.append(repr(text))
        if self.is_list:
            parts.append(f"{len(self.list_items)} items")
        return f"<Response {' '.join(parts)}>"

    def _repr_html_(self) -> str:
        head = html.escape(repr(self))
        left = "style='text-align:left'"
        rows = "".join(
            f"<tr><th {left}>{html.escape(k)}</th><td {left}>{html.escape(v)}</td></tr>"
            for k, v in self.message.pairs()
            if not is_secret(k)
        )
        out = f"<div><b>{head}</b><table>{rows}</table>"
        if self.is_list and self.list_items:
            frame = self.to_frame()
            # display only: columns the same on every row (the item event's name, our ActionID) go to a caption
            same = [c for c in ("Event", "ActionID", "EventList") if c in frame and frame[c].astype(str).nunique() <= 1]
            caption = " · ".join(f"{c}: {html.escape(str(frame[c].iloc[0]))}" for c in same)
            shown = frame.drop(columns=same).head(_HTML_ROWS)._repr_html_()
            more = len(frame) - _HTML_ROWS
            out += (f"<div style='font-size:11px'>{caption}</div>"
                    f"<div style='max-height:420px;overflow:auto;white-space:nowrap;font-size:11px'>{shown}</div>"
                    + (f"<p>… {more} more rows: use <code>.to_frame()</code></p>" if more > 0 else ""))
        return out + "</div>"


class CommandOutput(list[str]):
    """The output lines of a ``Command`` action; ``.response`` is the full :class:`Response`."""

    def __init__(self, lines: Sequence[str] = (), response: Response | None = None) -> None:
        super().__init__(lines)
        self.response = response

    @property
    def text(self) -> str:
        return "\n".join(self)

    def __str__(self) -> str:
        return self.text

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self.text if not cycle else "CommandOutput(...)")


def shape_result(action: str, response: Response | Message, events: Sequence[Message] = ()) -> Any:
    """The friendly result of an action: lines for ``Command``, a :class:`Config` for ``GetConfig`` /
    ``GetConfigJSON``, otherwise the :class:`Response` itself.

    Accepts a :class:`Response`, or a bare response :class:`Message` plus its item ``events``.
    """
    resp = response if isinstance(response, Response) else Response(action, response, events)
    name = action.lower()
    if name == "command":
        return CommandOutput(command_output(resp.message), resp)
    if name == "getconfig" and resp.ok:
        cfg: Config = parse_config(resp.message)
        cfg.response = resp  # type: ignore[attr-defined]
        return cfg
    if name == "getconfigjson" and resp.ok and "JSON" in resp.message:
        cfg = parse_config_json(resp.message)
        cfg.response = resp  # type: ignore[attr-defined]
        return cfg
    return resp


"""How the simulated PBX lays out what it writes: the banner, responses, event heads and list actions.

Pure functions from pairs to pairs or bytes (no sockets), so every writer (the server, the action handlers, the
flood) renders the same shapes: ``Response`` then ``ActionID``; ``Event``, ``Privilege`` and, with
``timestampevents``, ``Timestamp``; list items and their ``...Complete`` event as Asterisk 22.10.1 orders them.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..protocol import Message, encode_message

Pairs = list[tuple[str, str]]

BANNER = b"Asterisk Call Manager/11.0.0\r\n"


def response_pairs(msg: Message, response: str, pairs: Iterable[tuple[str, str]]) -> Pairs:
    """``Response`` first, then the action's ``ActionID`` when it had one, then the rest."""
    out: Pairs = [("Response", response)]
    aid = msg.get("ActionID")
    if aid is not None:
        out.append(("ActionID", aid))
    out.extend(pairs)
    return out


def event_head(name: str, priv: str, when: float | None) -> Pairs:
    """``Event``, ``Privilege`` and (``when`` given, i.e. ``timestampevents=yes``) ``Timestamp``."""
    head: Pairs = [("Event", name), ("Privilege", priv)]
    if when is not None:
        head.append(("Timestamp", f"{when:.6f}"))
    return head


def event_classes(priv: str) -> frozenset[str]:
    """A ``Privilege`` value (``call,all``) -> the read classes that may see the event (``{"call"}``)."""
    return frozenset(priv.split(",")) - {"all"}


def message_text(pairs: Iterable[tuple[str, str]]) -> str:
    """The event as the text a legacy ``Filter`` regex or a header-less criterion is matched against."""
    return "".join(f"{k}: {v}\r\n" for k, v in pairs)


def list_item(msg: Message, name: str, pairs: Pairs, *, aid_last: bool = False) -> bytes:
    """One item of a list action: ``Event``, then ``ActionID`` first or (``aid_last``) last, as recorded."""
    aid = msg.get("ActionID")
    out: Pairs = [("Event", name)]
    if aid is not None and not aid_last:
        out.append(("ActionID", aid))
    out.extend(pairs)
    if aid is not None and aid_last:
        out.append(("ActionID", aid))
    return encode_message(out)


def list_complete(msg: Message, name: str, n: int, *extra: tuple[str, str]) -> bytes:
    """The ``...Complete`` event closing a list of ``n`` items."""
    out: Pairs = [("Event", name)]
    aid = msg.get("ActionID")
    if aid is not None:
        out.append(("ActionID", aid))
    out += [("EventList", "Complete"), ("ListItems", str(n)), *extra]
    return encode_message(out)


def list_response(msg: Message, start: str, items: list[bytes], complete: str, *extra: tuple[str, str]) -> bytes:
    """A whole list, to be written at once as Asterisk does (nothing unrelated comes between start and
    Complete): ``Response: Success`` / ``EventList: start`` / ``Message``, the items, the Complete event."""
    head = response_pairs(msg, "Success", [("EventList", "start"), ("Message", start)])
    return encode_message(head) + b"".join(items) + list_complete(msg, complete, len(items), *extra)

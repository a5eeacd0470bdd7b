"""One manager connection to the simulated PBX: who logged in, what it may see, and its output queue.

The connection knows nothing about the server: it is told its output bound and what to call when it goes away
(``on_close``), so the server, the action handlers and the flood all import it and it imports none of them.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable

from ..protocol import Message, encode_message
from .access import EventFilter, Pairs, filters_pass
from .wire import response_pairs

log = logging.getLogger("ami_nb.sim")

_ids = itertools.count(1)


class ManagerConnection:
    """One AMI connection: login state, read/write classes, ``Events`` mask, filters, buffered output."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        max_buffer: int,
        on_close: Callable[[ManagerConnection], None],
    ) -> None:
        self.id = next(_ids)
        self.reader = reader
        self.writer = writer
        self.max_buffer = max_buffer
        self._on_close = on_close
        self.user: str | None = None
        self.read: frozenset[str] = frozenset()
        self.write: frozenset[str] = frozenset()
        self.mask: frozenset[str] | None = frozenset()  # None = all events ("on")
        self.filters: list[EventFilter] = []
        self.challenge: str | None = None
        self.closed = False
        self.sent_events = 0
        peer = writer.get_extra_info("peername") or ("?", 0)
        sock = writer.get_extra_info("sockname") or ("?", 0)
        proto = "TLS" if writer.get_extra_info("sslcontext") is not None else "TCP"
        self.remote = f"IPV4/{proto}/{peer[0]}/{peer[1]}"
        self.local = f"IPV4/{proto}/{sock[0]}/{sock[1]}"
        self.login_time = time.time()

    @property
    def authenticated(self) -> bool:
        return self.user is not None

    @property
    def events_on(self) -> bool:
        """Logged in, open, and its ``Events`` mask is not ``off``: it may receive events at all."""
        return self.user is not None and not self.closed and (self.mask is None or bool(self.mask))

    def wants(self, name: str, event_classes: frozenset[str], pairs: Pairs, text: str | None) -> bool:
        """Permission, ``Events`` mask and filters for one event (``text``: the event as filter text)."""
        if not self.events_on or not (event_classes & self.read):
            return False
        if self.mask is not None and not (event_classes & self.mask):
            return False
        return not self.filters or filters_pass(self.filters, name, pairs, text if text is not None else "")

    def send(self, data: bytes) -> None:
        """Queue bytes; disconnect a reader whose unsent output passes the bound."""
        if self.closed:
            return
        if self.writer.transport.is_closing():
            self.mark_closed()
            return
        self.writer.write(data)
        if self.writer.transport.get_write_buffer_size() > self.max_buffer:
            log.warning("sim: connection %d (%s) is too slow (output buffer full): disconnecting", self.id, self.user)
            self.abort()

    def mark_closed(self) -> None:
        """Closed (by the peer or by us): no more output, and the server forgets it."""
        if not self.closed:
            self.closed = True
            self._on_close(self)

    def abort(self) -> None:
        if not self.closed:
            self.writer.transport.abort()
            self.mark_closed()

    def respond(self, msg: Message, response: str, *pairs: tuple[str, str]) -> None:
        self.send(encode_message(response_pairs(msg, response, pairs)))

"""A tiny blocking AMI client over a raw socket, for the tests of the simulator.

It speaks bytes through :mod:`ami_nb.protocol` only (no client library), and every wait has a timeout.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable

from ami_nb.protocol import Message, Parser, encode_action


class RawAMI:
    """``RawAMI(host, port)``: connect and read the banner; ``send``/``send_raw`` actions; ``read_until``."""

    def __init__(self, host: str, port: int, *, timeout: float = 5.0,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        sock = socket.create_connection((host, port), timeout=timeout)
        self.sock = ssl_context.wrap_socket(sock, server_hostname=host) if ssl_context is not None else sock
        self.parser = Parser()
        self.timeout = timeout
        self.messages: list[Message] = []  # everything read and not yet consumed
        self.eof = False
        self.read_until(lambda: self.parser.banner is not None)

    def send(self, name: str, action_id: str | None = None, **fields: object) -> None:
        self.sock.sendall(encode_action(name, fields, action_id))  # type: ignore[arg-type]

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self, deadline: float) -> bool:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or self.eof:
            return False
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(1 << 20)
        except TimeoutError:
            return False
        except (ConnectionResetError, OSError):
            data = b""
        if not data:
            self.eof = True
            return False
        self.messages.extend(self.parser.feed(data))
        return True

    def read_until(self, done: Callable[[], bool], timeout: float | None = None) -> bool:
        """Read until ``done()`` is true, the peer closes, or the timeout passes; returns ``done()``."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while not done():
            if not self._fill(deadline):
                return done()
        return True

    def response(self, timeout: float | None = None) -> Message:
        """The next response (events before it stay in :attr:`messages`)."""

        def find() -> int | None:
            return next((i for i, m in enumerate(self.messages) if m.is_response), None)

        self.read_until(lambda: find() is not None, timeout)
        i = find()
        if i is None:
            raise TimeoutError("no response arrived" + (" (connection closed)" if self.eof else ""))
        return self.messages.pop(i)

    def action(self, name: str, action_id: str | None = None, **fields: object) -> Message:
        self.send(name, action_id, **fields)
        return self.response()

    def events(self, name: str | None = None) -> list[Message]:
        return [m for m in self.messages if m.is_event and (name is None or m.event == name)]

    def wait_event(self, pred: Callable[[Message], bool], timeout: float | None = None) -> Message:
        def find() -> Message | None:
            return next((m for m in self.messages if m.is_event and pred(m)), None)

        self.read_until(lambda: find() is not None, timeout)
        m = find()
        if m is None:
            raise TimeoutError("the expected event did not arrive")
        return m

    def login(self, username: str = "admin", secret: str = "amp111", events: str = "on") -> Message:
        return self.action("Login", "login", Username=username, Secret=secret, Events=events)

    def drain(self, quiet: float = 0.2, timeout: float = 10.0) -> None:
        """Read until nothing arrives for ``quiet`` seconds (or the timeout)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end and self._fill(min(end, time.monotonic() + quiet)):
            pass

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> RawAMI:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

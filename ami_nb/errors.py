"""The one exception tree of ami_nb.

::

    AMIError
    ├── ProtocolError            the peer sent bytes that are not AMI (bad banner, frame too large)
    ├── InvalidActionError       an action we refuse to send (CR/LF, line or header limits); also a ValueError
    ├── InvalidTargetError       a connection target that cannot be resolved (URL, port, section); also a ValueError
    ├── AMIConnectionError       connect failed, the socket dropped, the session is closed; also a ConnectionError
    │   └── AuthenticationError  the server refused the login
    ├── AMITimeoutError          a wait ran out; also a TimeoutError
    └── ActionError              the server answered ``Response: Error`` (carries the response)

Messages never contain a secret.
"""

from __future__ import annotations

from typing import Any


class AMIError(Exception):
    """Base class of every error ami_nb raises."""


class ProtocolError(AMIError):
    """The peer broke the AMI framing (no banner, an endless line, a message too large)."""


class InvalidActionError(AMIError, ValueError):
    """An action that Asterisk would reject or silently truncate; names the offending field."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class InvalidTargetError(AMIError, ValueError):
    """A target (URL, ``host:port``, connections-file section) that names no place to connect, or no user."""


class AMIConnectionError(AMIError, ConnectionError):
    """The connection could not be made, was lost, or the session is closed."""


class AuthenticationError(AMIConnectionError):
    """The server refused the login (wrong user or secret, or MD5 not offered)."""


class AMITimeoutError(AMIError, TimeoutError):
    """A wait (connect, login, response, event list, pong) ran out of time."""


class ActionError(AMIError):
    """The server answered an action with ``Response: Error``.

    ``.message`` is the server's own text, ``.response`` the whole message, ``.action`` the action's name.
    """

    def __init__(self, action: str, message: str, response: Any = None) -> None:
        super().__init__(f"{action}: {message}" if action else message)
        self.action = action
        self.message = message
        self.response = response

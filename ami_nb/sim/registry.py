"""The action registry of the simulated PBX: each AMI action's handler with the write classes it needs.

A handler module registers with the decorator and the server imports that module once::

    from .registry import action

    @action("QueueAdd")                 # needs what the recorded ListCommands says: agent
    async def queue_add(server: ServerView, conn: ManagerConnection, msg: Message) -> bool:
        ...
        return True                     # False closes the connection

The write classes come from the recorded ``ListCommands`` (:func:`~ami_nb.sim.configs.privileges`), so the
permission and the handler live in one place; an action Asterisk does not have must name its classes
(``privilege=``). Handlers see the server through :class:`ServerView`, so they import neither the server nor each
other and the imports run one way: ``server`` -> handler modules -> ``registry`` -> ``connection``/``model``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from ..protocol import Message
from . import configs
from .access import Pairs, User
from .connection import ManagerConnection
from .model import PBX


class ServerView(Protocol):
    """What a handler may use of the running server."""

    pbx: PBX
    users: dict[str, User]
    connections: set[ManagerConnection]
    timestampevents: bool
    time_scale: float
    auth_fail_delay: float
    booted: float

    def wake(self) -> None: ...

    def send_event(self, conn: ManagerConnection, name: str, priv: str, pairs: Pairs, *,
                   stamp: bool = True) -> None: ...


Handler = Callable[[ServerView, ManagerConnection, Message], Awaitable[bool]]


@dataclass(frozen=True)
class ActionSpec:
    """A registered action: its name as documented, the handler, the write classes (empty: anyone logged in),
    and whether it is answered before login (Login, Challenge, Logoff)."""

    name: str
    handler: Handler
    privilege: frozenset[str]
    before_login: bool = False


_RECORDED = configs.privileges()
HANDLERS: dict[str, ActionSpec] = {}


def action(*names: str, privilege: str | None = None, before_login: bool = False) -> Callable[[Handler], Handler]:
    """Register the decorated handler for ``names`` (case-insensitive). ``privilege`` (``"system"``,
    ``"call,originate"``) is required only for an action the recorded Asterisk does not list."""

    def deco(fn: Handler) -> Handler:
        for n in names:
            key = n.lower()
            if key in HANDLERS:
                raise ValueError(f"action {n!r} is registered twice ({HANDLERS[key].handler.__qualname__})")
            if privilege is not None:
                need = frozenset(c.strip().lower() for c in privilege.split(",") if c.strip())
            elif key in _RECORDED:
                need = _RECORDED[key]
            else:
                raise ValueError(f"action {n!r} is not in the recorded ListCommands: give privilege=")
            HANDLERS[key] = ActionSpec(n, fn, need, before_login)
        return fn

    return deco


def lookup(name: str) -> ActionSpec | None:
    """The registered action for a request's ``Action`` value, or None."""
    return HANDLERS.get(name.strip().lower())

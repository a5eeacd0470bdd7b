"""Sans-IO correlation of AMI answers with the actions sent (in the style of h11: no sockets, no futures, no time).

The client tells a :class:`Correlator` what it sent (:meth:`Correlator.expect`) and feeds it every parsed
:class:`~ami_nb.protocol.Message` (:meth:`Correlator.receive`); it answers with frozen results:

- :class:`ResponseReceived`: the ``Response`` to an action (success or error), when no list follows;
- :class:`EventListCompleted`: a list answer (``EventList: start`` ... ``Complete``/``Cancelled``, or the legacy
  shape: ``Message: ... will follow`` ... an event named ``*Complete``) with its items;
- :class:`OriginateOutcome`: the ``OriginateResponse`` event of an async ``Originate``;
- :class:`Unmatched`: a response whose ActionID nobody waits for (a foreign client, an answer after a timeout).

Events are never consumed: the client hands every event to its listeners too (list items included).
:meth:`Correlator.fail_all` ends every action still waiting (the connection is gone). Everything here is pure,
so it is tested on messages, including the parsed real transcripts.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import InvalidActionError
from .protocol import Message

__all__ = [
    "MAX_KEPT_OUTCOMES",
    "Correlator",
    "EventListCompleted",
    "Failed",
    "OriginateOutcome",
    "ResponseReceived",
    "Result",
    "Unmatched",
    "is_list_end",
    "is_list_start",
]

MAX_KEPT_OUTCOMES = 1000  # OriginateResponse waits and arrivals kept (oldest forgotten first)


@dataclass(frozen=True)
class ResponseReceived:
    """The answer to ``action`` (ActionID ``action_id``): one ``Response`` message, no list behind it."""

    action_id: str
    action: str
    response: Message


@dataclass(frozen=True)
class EventListCompleted:
    """A list answer: the ``Response`` that started it, its item events in order, and the closing event."""

    action_id: str
    action: str
    response: Message
    items: tuple[Message, ...]
    complete: Message


@dataclass(frozen=True)
class OriginateOutcome:
    """The ``OriginateResponse`` event for the async ``Originate`` sent with ``action_id``."""

    action_id: str
    event: Message


@dataclass(frozen=True)
class Unmatched:
    """A response nobody waits for (no ActionID, or one not expected): the caller may log it."""

    message: Message


@dataclass(frozen=True)
class Failed:
    """An action that will get no answer (from :meth:`Correlator.fail_all`), with the error to report."""

    action_id: str
    action: str
    error: BaseException


Result = ResponseReceived | EventListCompleted | OriginateOutcome | Unmatched


def is_list_start(msg: Message) -> bool:
    """A response that opens an event list: ``EventList: start``, or the legacy ``Message: ... will follow``."""
    el = msg.get("EventList")
    if el is not None:
        return bool(el.lower() == "start")
    return "will follow" in (msg.get("Message") or "").lower()


def is_list_end(ev: Message) -> bool:
    """An event that closes an event list: ``EventList: Complete``/``Cancelled``, or a legacy ``*Complete``."""
    el = ev.get("EventList")
    if el is not None:
        return bool(el.lower() in ("complete", "cancelled"))
    return (ev.event or "").lower().endswith("complete")


@dataclass
class _Expected:
    action: str
    response: Message | None = None  # set once a list start arrived
    items: list[Message] = field(default_factory=list)


class Correlator:
    """Matches responses, event lists and Originate outcomes to the actions sent, by ActionID.

    Not thread-safe: one owner (the client's event loop) calls it.
    """

    def __init__(self, max_kept_outcomes: int = MAX_KEPT_OUTCOMES) -> None:
        self._expected: dict[str, _Expected] = {}
        self._awaiting: OrderedDict[str, None] = OrderedDict()  # async Originates whose outcome is awaited
        self._arrived: OrderedDict[str, Message] = OrderedDict()  # their OriginateResponse events, once seen
        self._max_outcomes = max_kept_outcomes

    # -- what was sent ----------------------------------------------------------------------------------------
    def expect(self, action_id: str, action: str) -> tuple[str, ...]:
        """Record that ``action`` was sent with ``action_id``; an ``Originate`` also awaits its outcome.

        Raises :class:`InvalidActionError` if that ActionID is still waiting. Returns the ActionIDs whose outcome
        wait was forgotten to stay within the bound (usually none), so the caller can stop waiting for them.
        """
        if action_id in self._expected:
            raise InvalidActionError(f"ActionID {action_id!r} is already waiting for a response", "ActionID")
        self._expected[action_id] = _Expected(action)
        if action.lower() == "originate":
            # a reused ActionID (a re-run cell) must not hand back the previous call's OriginateResponse
            self._arrived.pop(action_id, None)
            return self.await_outcome(action_id)
        return ()

    def forget(self, action_id: str) -> None:
        """Stop waiting for the answer to ``action_id`` (the caller timed out or was cancelled)."""
        self._expected.pop(action_id, None)

    def await_outcome(self, action_id: str) -> tuple[str, ...]:
        """Await the ``OriginateResponse`` for ``action_id`` (see :meth:`outcome` for one already seen).

        Returns the ActionIDs forgotten to keep at most ``max_kept_outcomes`` waits.
        """
        self._awaiting[action_id] = None
        self._awaiting.move_to_end(action_id)
        evicted: list[str] = []
        while len(self._awaiting) > self._max_outcomes:
            old, _ = self._awaiting.popitem(last=False)
            evicted.append(old)
        return tuple(evicted)

    def outcome(self, action_id: str) -> Message | None:
        """The ``OriginateResponse`` already received for ``action_id``, if it is among the last ones kept."""
        return self._arrived.get(action_id)

    def drop_outcome(self, action_id: str) -> None:
        """Stop awaiting the outcome of ``action_id`` (its Originate failed, or the waiter is gone)."""
        self._awaiting.pop(action_id, None)

    @property
    def busy(self) -> bool:
        """True while an answer or an outcome is awaited (when False, events need not be fed)."""
        return bool(self._expected or self._awaiting)

    def listing(self, action_id: str) -> bool:
        """True once the answer to ``action_id`` turned out to be an event list that has not ended yet."""
        exp = self._expected.get(action_id)
        return exp is not None and exp.response is not None

    @property
    def waiting(self) -> dict[str, str]:
        """``{action_id: action}`` of every action still waiting for its answer."""
        return {aid: e.action for aid, e in self._expected.items()}

    # -- what arrived -----------------------------------------------------------------------------------------
    def receive(self, msg: Message) -> Result | None:
        """Feed one parsed message; returns what it completed, or ``None`` (an event that completes nothing)."""
        if msg.is_event:
            aid = msg.get("ActionID")
            return self.receive_event(aid, msg) if aid is not None else None
        return self._response(msg)

    def _response(self, msg: Message) -> Result | None:
        aid = msg.get("ActionID")
        exp = self._expected.get(aid) if aid is not None else None
        if exp is None or aid is None:
            return Unmatched(msg)
        is_error = (msg.response or "").lower() == "error"
        if not is_error and exp.response is None and is_list_start(msg):
            exp.response = msg
            return None  # the items and the closing event follow
        del self._expected[aid]
        if is_error and exp.action.lower() == "originate":
            self._awaiting.pop(aid, None)
        return ResponseReceived(aid, exp.action, msg)

    def receive_event(self, aid: str, ev: Message) -> Result | None:
        """:meth:`receive` for an event whose ActionID ``aid`` the caller has read already (the hot path)."""
        exp = self._expected.get(aid)
        if exp is not None and exp.response is not None:
            if is_list_end(ev):
                del self._expected[aid]
                return EventListCompleted(aid, exp.action, exp.response, tuple(exp.items), ev)
            exp.items.append(ev)
            return None
        if aid in self._awaiting and (ev.event or "").lower() == "originateresponse":
            del self._awaiting[aid]
            self._arrived[aid] = ev
            while len(self._arrived) > self._max_outcomes:
                self._arrived.popitem(last=False)
            return OriginateOutcome(aid, ev)
        return None

    # -- the end of a connection ---------------------------------------------------------------------------------
    def fail_all(self, error: BaseException | Callable[[str, str], BaseException]) -> tuple[Failed, ...]:
        """End every action still waiting for its answer: one :class:`Failed` each, in the order sent.

        ``error`` is the exception to report, or ``error(action, action_id)`` making one per action. Outcome
        waits are kept (each waiter has its own timeout); :meth:`clear` forgets them too.
        """
        expected, self._expected = self._expected, {}
        return tuple(
            Failed(aid, e.action, error(e.action, aid) if callable(error) else error) for aid, e in expected.items()
        )

    def clear(self) -> tuple[str, ...]:
        """Forget everything (the client closed); returns the ActionIDs whose outcome was still awaited."""
        awaiting = tuple(self._awaiting)
        self._expected.clear()
        self._awaiting.clear()
        return awaiting

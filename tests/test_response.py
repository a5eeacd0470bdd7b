"""Shaped results on real answers: list responses as typed frames, DAMI's int conversion made lossless."""

from __future__ import annotations

from pathlib import Path

import pytest

from ami_nb.correlator import Correlator, EventListCompleted
from ami_nb.protocol import Message, Parser
from ami_nb.response import Response

FIXTURES = Path(__file__).parent / "fixtures" / "transcripts"


def list_response(name: str, action: str) -> Response:
    """The first list answer of a transcript, collected as the client collects it (by the correlator)."""
    msgs = Parser().feed((FIXTURES / name).read_bytes())
    aid = next(m for m in msgs if m.get("EventList") == "start")["ActionID"]
    corr = Correlator()
    corr.expect(aid, action)
    done = next(r for r in map(corr.receive, msgs) if isinstance(r, EventListCompleted))
    return Response(action, done.response, list(done.items), done.complete, action_id=aid)


def test_queue_status_frame_is_typed() -> None:
    resp = list_response("17_queuestatus.txt", "QueueStatus")
    frame = resp.to_frame()
    assert len(frame) == len(resp.list_items) and resp.is_list
    members = frame[frame["Event"] == "QueueMember"]
    assert str(frame["Penalty"].dtype) == "Int64" and members["Penalty"].notna().all()
    assert str(frame["CallsTaken"].dtype) == "Int64"
    raw = resp.to_frame(convert=False)
    assert raw["Penalty"].dropna().map(type).eq(str).all()


def test_identifiers_and_non_canonical_numbers_stay_text() -> None:
    resp = list_response("15_coreshowchannels.txt", "CoreShowChannels")
    frame = resp.to_frame()
    assert frame["Uniqueid"].map(type).eq(str).all()  # 1795680640.23 is an id, not a float
    assert frame["CallerIDNum"].map(type).eq(str).all()
    assert frame["Exten"].map(type).eq(str).all()
    assert str(frame["Priority"].dtype) == "Int64"


def test_converted_response_is_lossless() -> None:
    msgs = Parser().feed((FIXTURES / "07_corestatus.txt").read_bytes())
    resp = Response("CoreStatus", msgs[1])
    out = resp.converted()
    assert isinstance(out["CoreCurrentCalls"], int)
    assert out["CoreStartupTime"] == resp["CoreStartupTime"]  # "08:09:53" stays text
    assert out["ActionID"] == resp["ActionID"]


def test_list_items_is_the_name_and_events_a_deprecated_alias() -> None:
    """``.events`` meant three things (client mask, session store, list items): the list items say what they are."""
    item = Message.from_pairs([("Event", "QueueMember"), ("Queue", "support")])
    resp = Response("QueueStatus", Message.from_pairs([("Response", "Success")]), [item])
    assert resp.list_items == [item] and resp.is_list
    with pytest.warns(DeprecationWarning, match="list_items"):
        assert resp.events == [item]

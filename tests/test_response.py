"""Shaped results on real answers: list responses as typed frames, DAMI's int conversion made lossless."""

from __future__ import annotations

from pathlib import Path

from ami_nb.protocol import Parser
from ami_nb.response import Response

FIXTURES = Path(__file__).parent / "fixtures" / "transcripts"


def list_response(name: str, action: str) -> Response:
    """The first list answer of a transcript, as the client collects it (response, items, Complete)."""
    msgs = Parser().feed((FIXTURES / name).read_bytes())
    start = next(i for i, m in enumerate(msgs) if m.get("EventList") == "start")
    aid = msgs[start]["ActionID"]
    items = [m for m in msgs[start + 1 :] if m.get("ActionID") == aid]
    return Response(action, msgs[start], items[:-1], items[-1])


def test_queue_status_frame_is_typed() -> None:
    resp = list_response("17_queuestatus.txt", "QueueStatus")
    frame = resp.to_frame()
    assert len(frame) == len(resp.events) and resp.is_list
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

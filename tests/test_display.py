"""How answers read in a notebook: GetConfig as collapsible tables, list answers without their constant columns."""

from __future__ import annotations

from pathlib import Path

from ami_nb.protocol import Config, Parser
from ami_nb.response import Response, shape_result

TRANSCRIPTS = Path(__file__).parent / "fixtures" / "transcripts"


def messages(name: str) -> list:
    return Parser().feed((TRANSCRIPTS / f"{name}.txt").read_bytes())


def test_getconfig_has_an_html_repr_not_a_wall() -> None:
    answer = next(m for m in messages("13_getconfig_extensions") if any(k.startswith("Category-") for k in m))
    cfg = shape_result("GetConfig", answer)
    assert isinstance(cfg, Config) and cfg.categories
    page = cfg._repr_html_()
    assert "Config({" not in page and page.count("<details") == len(cfg.categories)
    first = cfg.categories[0]
    assert f"[{first.name}]" in page and f"{len(first.lines)} lines" in page
    key, value = first.lines[0]
    assert f">{key}</td>" in page and (not value or f">{value}</td>" in page)


def test_list_answer_shows_constant_columns_once() -> None:
    msgs = messages("17_queuestatus")
    start = next(i for i, m in enumerate(msgs) if m.get("EventList") == "start")
    aid = msgs[start]["ActionID"]
    items = [m for m in msgs[start + 1:] if m.get("ActionID") == aid and m.get("EventList") != "Complete"]
    complete = next(m for m in msgs[start + 1:] if m.get("ActionID") == aid and m.get("EventList") == "Complete")
    resp = Response("QueueStatus", msgs[start], items, complete, action_id=aid)
    page = resp._repr_html_()
    table = page.split("<table", 2)[2]  # the items' table (after the response's own)
    assert "<th>ActionID</th>" not in table and f"ActionID: {aid}" in page
    # Event varies (QueueParams, QueueMember, QueueEntry): it stays a column
    assert "<th>Event</th>" in table and "max-height:420px" in page
    assert "ActionID" in resp.to_frame().columns  # the data keeps it; only the display drops it


def test_a_list_frame_shows_constant_keys_once_and_scrolls() -> None:
    import pandas as pd

    from ami_nb.display import ListFrame

    msgs = messages("27_showdialplan")
    aid = next(m["ActionID"] for m in msgs if m.get("EventList") == "start")
    items = [m for m in msgs if m.is_event and m.get("ActionID") == aid and m.get("EventList") != "Complete"]
    frame = ListFrame(pd.DataFrame([m.to_dict() for m in items]))
    page = frame._repr_html_()
    assert f"ActionID: <b>{aid}</b>" in page and "<th>ActionID</th>" not in page
    assert "max-height:420px" in page and f"{len(items)} rows" in page
    assert type(frame[frame.columns[:2]]) is pd.DataFrame and "ActionID" in frame  # the data is all there

"""The sans-IO correlator on messages: built by hand, and the parsed real Asterisk 22 transcripts."""

from __future__ import annotations

from typing import Any

import pytest
from scripted_server import TRANSCRIPTS, load_transcript

from ami_nb.correlator import (
    Correlator,
    EventListCompleted,
    Failed,
    OriginateOutcome,
    ResponseReceived,
    Unmatched,
    is_list_end,
    is_list_start,
)
from ami_nb.errors import AMIConnectionError, InvalidActionError
from ami_nb.protocol import Message


def msg(**fields: Any) -> Message:
    return Message.from_pairs([(k, str(v)) for k, v in fields.items()])


def test_a_plain_response_completes_its_action() -> None:
    c = Correlator()
    assert c.expect("a1", "Ping") == () and c.busy and c.waiting == {"a1": "Ping"}
    pong = msg(Response="Success", ActionID="a1", Ping="Pong")
    done = c.receive(pong)
    assert done == ResponseReceived("a1", "Ping", pong)
    assert not c.busy and c.waiting == {}
    with pytest.raises(AttributeError):
        done.action = "other"  # type: ignore[misc,union-attr]  # frozen


def test_an_error_response_completes_it_too() -> None:
    c = Correlator()
    c.expect("a1", "CoreShowChannels")
    err = msg(Response="Error", ActionID="a1", Message="Permission denied")
    assert c.receive(err) == ResponseReceived("a1", "CoreShowChannels", err)


def test_an_event_list_is_collected_amid_unrelated_traffic() -> None:
    c = Correlator()
    c.expect("l1", "CoreShowChannels")
    c.expect("p1", "Ping")
    start = msg(Response="Success", ActionID="l1", EventList="start", Message="Channels will follow")
    item1 = msg(Event="CoreShowChannel", ActionID="l1", Channel="PJSIP/a")
    other = msg(Event="Newchannel", Channel="PJSIP/b")  # no ActionID: not the list's
    foreign = msg(Event="CoreShowChannel", ActionID="someone-else", Channel="PJSIP/c")
    pong = msg(Response="Success", ActionID="p1", Ping="Pong")
    item2 = msg(Event="CoreShowChannel", ActionID="l1", Channel="PJSIP/d")
    end = msg(Event="CoreShowChannelsComplete", ActionID="l1", EventList="Complete", ListItems=2)
    out = [c.receive(m) for m in (start, item1, other, foreign, pong, item2)]
    assert out[:4] == [None, None, None, None] and out[5] is None
    assert out[4] == ResponseReceived("p1", "Ping", pong)
    assert c.listing("l1") and not c.listing("p1")
    assert c.receive(end) == EventListCompleted("l1", "CoreShowChannels", start, (item1, item2), end)
    assert not c.busy


def test_a_cancelled_list_ends_it() -> None:
    c = Correlator()
    c.expect("q", "QueueStatus")
    start = msg(Response="Success", ActionID="q", EventList="start")
    cancelled = msg(Event="QueueStatusComplete", ActionID="q", EventList="Cancelled")
    c.receive(start)
    done = c.receive(cancelled)
    assert isinstance(done, EventListCompleted) and done.items == () and done.complete is cancelled


def test_the_legacy_list_shape_without_eventlist_headers() -> None:
    c = Correlator()
    c.expect("s", "Status")
    start = msg(Response="Success", ActionID="s", Message="Channel status will follow")
    item = msg(Event="Status", ActionID="s", Channel="SIP/1")
    end = msg(Event="StatusComplete", ActionID="s", Items=1)
    assert is_list_start(start) and not is_list_end(item) and is_list_end(end)
    assert [c.receive(m) for m in (start, item)] == [None, None]
    assert c.receive(end) == EventListCompleted("s", "Status", start, (item,), end)


def test_an_error_is_never_a_list_start() -> None:
    c = Correlator()
    c.expect("e", "Status")
    err = msg(Response="Error", ActionID="e", Message="Status will follow")  # odd text, still an error
    assert c.receive(err) == ResponseReceived("e", "Status", err)


def test_async_originate_outcome_and_a_reused_action_id() -> None:
    c = Correlator()
    c.expect("o", "Originate")
    queued = msg(Response="Success", ActionID="o", Message="Originate successfully queued")
    assert c.receive(queued) == ResponseReceived("o", "Originate", queued)
    assert c.busy  # still awaiting the outcome
    unrelated = msg(Event="OriginateResponse", ActionID="other", Response="Success")
    assert c.receive(unrelated) is None
    outcome = msg(Event="OriginateResponse", ActionID="o", Response="Failure", Reason=5)
    assert c.receive(outcome) == OriginateOutcome("o", outcome)
    assert c.outcome("o") is outcome and not c.busy
    c.expect("o", "Originate")  # the cell is run again with the same ActionID
    assert c.outcome("o") is None


def test_a_failed_originate_awaits_no_outcome() -> None:
    c = Correlator()
    c.expect("o", "Originate")
    c.receive(msg(Response="Error", ActionID="o", Message="Extension does not exist."))
    assert not c.busy
    assert c.receive(msg(Event="OriginateResponse", ActionID="o", Response="Failure")) is None


def test_outcome_waits_and_arrivals_are_bounded() -> None:
    c = Correlator(max_kept_outcomes=2)
    assert c.await_outcome("o1") == () and c.await_outcome("o2") == ()
    assert c.await_outcome("o3") == ("o1",)  # the oldest wait is forgotten and reported
    for aid in ("o2", "o3"):
        c.receive(msg(Event="OriginateResponse", ActionID=aid, Response="Success"))
    c.await_outcome("o4")
    c.receive(msg(Event="OriginateResponse", ActionID="o4", Response="Success"))
    assert c.outcome("o2") is None and c.outcome("o3") is not None and c.outcome("o4") is not None


def test_unmatched_responses_are_reported() -> None:
    c = Correlator()
    no_id = msg(Response="Goodbye", Message="Thanks for all the fish.")
    unknown = msg(Response="Success", ActionID="nobody")
    assert c.receive(no_id) == Unmatched(no_id) and c.receive(unknown) == Unmatched(unknown)
    c.expect("late", "Ping")
    c.forget("late")  # the caller timed out
    late = msg(Response="Success", ActionID="late")
    assert c.receive(late) == Unmatched(late)


def test_a_duplicate_action_id_is_refused() -> None:
    c = Correlator()
    c.expect("x", "Ping")
    with pytest.raises(InvalidActionError, match="already waiting"):
        c.expect("x", "Ping")


def test_fail_all_ends_every_waiting_action_in_order() -> None:
    c = Correlator()
    c.expect("b", "Ping")
    c.expect("a", "QueueStatus")
    c.receive(msg(Response="Success", ActionID="a", EventList="start"))  # half a list
    c.await_outcome("o")
    failed = c.fail_all(lambda action, aid: AMIConnectionError(f"lost {action} {aid}"))
    assert [(f.action_id, f.action, str(f.error)) for f in failed] == [("b", "Ping", "lost Ping b"),
                                                                     ("a", "QueueStatus", "lost QueueStatus a")]
    assert all(isinstance(f, Failed) for f in failed)
    assert c.waiting == {} and c.busy  # the outcome wait survives a lost connection
    err = AMIConnectionError("closed")
    c.expect("c", "Ping")
    assert c.fail_all(err) == (Failed("c", "Ping", err),)
    assert c.clear() == ("o",) and not c.busy


# -- on the real transcripts -------------------------------------------------------------------------------------
LIST_TRANSCRIPTS = ["15_coreshowchannels", "16_status", "17_queuestatus", "18_queuesummary", "27_showdialplan",
                    "28_db_vars_misc", "30_snapshot_extras", "31_hangup_regex", "43_queue_members",
                    "46_queuesummary_waiting", "47_coreshowchannels_status_5calls"]


def correlate(name: str) -> tuple[list[Message], dict[str, Any], Correlator]:
    """Expect every action the recording sent, feed every message Asterisk answered: results by ActionID."""
    server, sent = load_transcript(name)
    c = Correlator()
    actions = {}
    for act in sent:
        aid = act.get("ActionID")
        if aid is not None:
            actions[aid] = act.get("Action") or ""  # one recording sends an action without its Action line
            c.expect(aid, actions[aid])
    results: dict[str, Any] = {}
    for m in server:
        done = c.receive(m)
        if done is not None and not isinstance(done, Unmatched):
            key = done.action_id if not isinstance(done, OriginateOutcome) else f"outcome:{done.action_id}"
            assert key not in results, f"{name}: {key} completed twice"
            results[key] = done
    return server, results, c


@pytest.mark.parametrize("name", LIST_TRANSCRIPTS)
def test_real_list_answers_hold_the_items_asterisk_counted(name: str) -> None:
    _, results, c = correlate(name)
    lists = [r for r in results.values() if isinstance(r, EventListCompleted)]
    assert lists, f"{name} holds an event list"
    for r in lists:
        assert r.response.get("EventList") == "start"
        assert r.complete.get("EventList") == "Complete"
        assert len(r.items) == int(r.complete["ListItems"])  # Asterisk's own count
        assert all(item.get("ActionID") == r.action_id for item in r.items)
    assert c.waiting == {} or set(c.waiting.values()) <= {"Logoff"}  # every action but a final Logoff answered


def test_every_recorded_action_gets_its_answer() -> None:
    """Asterisk answered every action it was sent in these recordings (a final Logoff's answer may be cut off)."""
    paths = [p for p in sorted(TRANSCRIPTS.glob("*.txt")) if (TRANSCRIPTS / "sent" / f"{p.stem}.sent.txt").is_file()]
    assert len(paths) >= 30
    for path in paths:
        _, sent = load_transcript(path.stem)
        _, results, c = correlate(path.stem)
        logoffs = {a["ActionID"] for a in sent if (a.get("Action") or "").lower() == "logoff"}
        assert set(c.waiting) <= logoffs, path.stem
        assert len([r for r in results if not r.startswith("outcome:")]) >= len(sent) - len(logoffs), path.stem


def test_the_recorded_async_originate_outcome() -> None:
    server, results, _ = correlate("19_originate_async_100")
    queued = results["19_originate_async_100-2"]
    assert isinstance(queued, ResponseReceived) and queued.response["Message"] == "Originate successfully queued"
    outcome = results["outcome:19_originate_async_100-2"]
    assert isinstance(outcome, OriginateOutcome)
    recorded = [m for m in server if m.event == "OriginateResponse"]
    assert outcome.event is recorded[0] and outcome.event["Response"] == "Success"

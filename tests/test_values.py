"""The one value-type policy (ami_nb.values): every layer gives a key the same dtype."""

from __future__ import annotations

import time

import pandas as pd
import pytest

from ami_nb import protocol, sim, values
from ami_nb.protocol import Message
from ami_nb.response import Response
from ami_nb.session import connect
from ami_nb.store import EventStore
from ami_nb.values import coerce_frame, column_kind, convert_value, is_identifier, is_secret

SECRET = "amp111"  # the simulator's admin user, as in the recordings


def kind_of(dtype: object) -> str:
    """The dtype family a user sees (categories differ with the data; the family must not)."""
    return "category" if isinstance(dtype, pd.CategoricalDtype) else str(dtype)


@pytest.mark.parametrize("text", ["0123", "", "+44", "-0", "1.5", "1700000000.510", " 1", "1_000", "١٢"])
def test_values_that_would_not_print_back_stay_strings(text: str) -> None:
    assert convert_value(text) == text and type(convert_value(text)) is str


@pytest.mark.parametrize(("text", "number"), [("0", 0), ("42", 42), ("-7", -7), ("1796187429", 1796187429)])
def test_canonical_integers_convert(text: str, number: int) -> None:
    assert convert_value(text) == number and type(convert_value(text)) is int


def test_identifiers_are_text_whatever_they_hold() -> None:
    for key in ("Uniqueid", "Linkedid", "CallerIDNum", "ConnectedLineNum", "Exten", "DestExten", "ActionID",
                "AccountCode", "TransfereeCallerIDNum", "Interface"):
        assert is_identifier(key), key
        # a category holds the strings themselves: AccountCode has few values, so it is one
        assert column_kind(key) == ("category" if key == "AccountCode" else "text"), key
    assert values.convert({"Exten": "100", "Priority": "1"}) == {"Exten": "100", "Priority": 1}


def test_secret_keys_have_one_home() -> None:
    assert is_secret("Secret") and is_secret("KEY") and not is_secret("Keys")
    assert protocol.SECRET_KEYS is values.SECRET_KEYS
    assert "amp111" not in repr(Message.from_pairs([("Action", "Login"), ("Secret", "amp111")]))
    html = Response("Login", Message.from_pairs([("Response", "Success"), ("Key", "amp111")]))._repr_html_()
    assert "amp111" not in html


def test_protocol_reexports_the_policy() -> None:
    assert protocol.convert_value is values.convert_value and protocol.is_identifier is values.is_identifier
    assert protocol.convert is values.convert


def test_prefixed_keys_follow_their_base_key() -> None:
    assert column_kind("DestPriority") == column_kind("Priority") == "integer"
    assert column_kind("OrigTransfererChannelState") == "category"  # two prefixes (attended transfer)
    assert column_kind("ToBridgeNumChannels") == "integer"
    assert column_kind("DestinationContext") == "category"
    assert column_kind("Digit") == column_kind("AppData") == column_kind("Value") == "text"


def test_coerce_frame_keeps_a_column_text_when_one_value_would_change() -> None:
    df = pd.DataFrame({"Calls": ["1", "016", None], "Penalty": ["0", None, "2"], "Exten": ["100", "200", "300"]})
    coerce_frame(df)
    assert kind_of(df["Calls"].dtype) == "str" and list(df["Calls"][:2]) == ["1", "016"]
    assert kind_of(df["Penalty"].dtype) == "Int64" and df["Penalty"].iloc[2] == 2 and pd.isna(df["Penalty"][1])
    assert kind_of(df["Exten"].dtype) == "str"


def test_store_and_to_frame_agree_on_hand_made_messages() -> None:
    msgs = [
        Message.from_pairs([("Event", "QueueMember"), ("Queue", "support"), ("LoginTime", "1796187429"),
                            ("Penalty", "0"), ("CallerIDNum", "0123"), ("Timestamp", "1796187429.123456")]),
        Message.from_pairs([("Event", "QueueMember"), ("Queue", "sales"), ("LoginTime", "1796185402"),
                            ("Penalty", "2"), ("CallerIDNum", "100"), ("Timestamp", "1796187430.000001")]),
    ]
    store = EventStore()
    store.extend(msgs)
    a = store.frame().drop(columns="received")
    b = Response("QueueStatus", Message.from_pairs([("Response", "Success")]), msgs).to_frame()
    assert {k: kind_of(t) for k, t in a.dtypes.items()} == {k: kind_of(t) for k, t in b.dtypes.items()}
    assert kind_of(a["LoginTime"].dtype) == "Int64" and kind_of(a["CallerIDNum"].dtype) == "str"
    assert list(b["CallerIDNum"]) == ["0123", "100"]
    assert b["Timestamp"].iloc[0] == pd.Timestamp(1796187429123456, unit="us", tz="UTC") == a["Timestamp"].iloc[0]


def test_same_key_same_dtype_from_to_frame_and_from_the_store_over_a_socket() -> None:
    """The defect: QueueStatus's LoginTime was Int64 from to_frame() and text from session.events.frame()."""
    with sim.start(time_scale=50) as pbx, connect(pbx.url, secret=SECRET, keepalive=None) as s:
        for name in ("QueueStatus", "CoreShowChannels", "Status"):
            if name != "QueueStatus":
                pbx.call("answered")
            r = s.action(name)
            assert r.is_list
            if not r.list_items:
                continue
            ids = {m.action_id for m in r.list_items}
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:  # list items reach the store through the same event stream
                held = s.events.frame()
                if "ActionID" in held and held["ActionID"].isin(ids).sum() >= len(r.list_items):
                    break
                time.sleep(0.05)
            items = held[held["ActionID"].isin(ids) & held["Event"].isin({m.event for m in r.list_items})]
            direct = r.to_frame()
            assert len(items) == len(direct) == len(r.list_items)
            for key in direct.columns:
                assert kind_of(items[key].dtype) == kind_of(direct[key].dtype), (name, key)
                if kind_of(direct[key].dtype) in ("str", "Int64"):  # same values too, in the same order
                    assert items[key].tolist() == direct[key].tolist(), (name, key)
            if name == "QueueStatus":
                members = direct[direct["Event"] == "QueueMember"]
                assert len(members) and kind_of(direct["LoginTime"].dtype) == "Int64"
                assert kind_of(direct["Penalty"].dtype) == "Int64"
            assert kind_of(direct["Uniqueid"].dtype if "Uniqueid" in direct else "str") == "str"

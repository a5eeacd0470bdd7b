"""Trunk ASR / NER / ACD on a stream whose outcomes are known by construction."""

from __future__ import annotations

import pandas as pd
import pytest

from ami_nb.analysis import trunk_kpis as T

T0 = pd.Timestamp("2026-12-01 10:00:00", tz="UTC")


def _ev(sec: float, **kw: str) -> dict[str, object]:
    return {"received": T0 + pd.Timedelta(seconds=sec), **kw}


def _dial(sec: float, dest: str, uid: str, status: str, hangup_after: float | None = None) -> list[dict[str, object]]:
    rows = [
        _ev(sec, Event="DialBegin", Channel="PJSIP/7001-00000001", DestChannel=dest, DestUniqueid=uid, Uniqueid="a"),
        _ev(
            sec + 5,
            Event="DialEnd",
            Channel="PJSIP/7001-00000001",
            DestChannel=dest,
            DestUniqueid=uid,
            DialStatus=status,
            Uniqueid="a",
        ),
    ]
    if hangup_after is not None:
        rows.append(_ev(sec + 5 + hangup_after, Event="Hangup", Channel=dest, Uniqueid=uid, Cause="16"))
    return rows


@pytest.fixture
def stream() -> pd.DataFrame:
    rows = [
        *_dial(0, "PJSIP/carrier-a-00000010", "d1", "ANSWER", hangup_after=60),
        *_dial(100, "PJSIP/carrier-a-00000011", "d2", "BUSY"),
        *_dial(200, "PJSIP/carrier-a-00000012", "d3", "CONGESTION"),
        *_dial(300, "PJSIP/carrier-a-00000013", "d4", "ANSWER", hangup_after=30),
        *_dial(400, "PJSIP/carrier-b-00000014", "d5", "NOANSWER"),
        *_dial(500, "Local/200@demo-00000015;1", "d6", "ANSWER", hangup_after=10),  # not a trunk
        # inbound on carrier-b to the DID 0800123: one answered (talks 40 s), one busy, one cleared by the caller
        _ev(600, Event="Newchannel", Channel="PJSIP/carrier-b-00000020", Uniqueid="i1", Exten="0800123"),
        _ev(
            602,
            Event="Newstate",
            Channel="PJSIP/carrier-b-00000020",
            Uniqueid="i1",
            ChannelState="6",
            ChannelStateDesc="Up",
        ),
        _ev(642, Event="Hangup", Channel="PJSIP/carrier-b-00000020", Uniqueid="i1", Cause="16"),
        _ev(700, Event="Newchannel", Channel="PJSIP/carrier-b-00000021", Uniqueid="i2", Exten="0800123"),
        _ev(701, Event="Hangup", Channel="PJSIP/carrier-b-00000021", Uniqueid="i2", Cause="17"),
        _ev(800, Event="Newchannel", Channel="PJSIP/carrier-b-00000022", Uniqueid="i3", Exten="0800123"),
        _ev(809, Event="Hangup", Channel="PJSIP/carrier-b-00000022", Uniqueid="i3", Cause="16"),
    ]
    return pd.DataFrame(rows)


def test_outbound_asr_ner_acd_by_definition(stream):
    table = T.trunks(stream).set_index(["direction", "trunk"])
    a = table.loc[("outbound", "PJSIP/carrier-a")]
    assert (a["seizures"], a["answered"], a["busy"], a["failed"]) == (4, 2, 1, 1)
    assert a["asr"] == pytest.approx(2 / 4)  # answered / seizures
    assert a["ner"] == pytest.approx(3 / 4)  # answered + busy (the congestion is the network's failure)
    assert a["acd"] == pytest.approx((60 + 30) / 2)
    assert a["minutes"] == pytest.approx(90 / 60)
    b = table.loc[("outbound", "PJSIP/carrier-b")]
    assert (b["seizures"], b["no answer"], b["asr"], b["ner"]) == (1, 1, 0.0, 1.0)
    assert pd.isna(b["acd"])
    assert "Local/200@demo" not in table.index.get_level_values("trunk")


def test_inbound_by_did(stream):
    table = T.trunks(stream)
    inbound = table[table["direction"] == "inbound"].set_index("did")
    row = inbound.loc["0800123"]
    assert (row["seizures"], row["answered"], row["busy"], row["cancelled"]) == (3, 1, 1, 1)
    assert row["asr"] == pytest.approx(1 / 3) and row["ner"] == pytest.approx(1.0)
    assert row["acd"] == pytest.approx(40.0)


def test_choosing_trunks_by_pattern_or_name(stream):
    only_a = T.trunks(stream, trunks=r"carrier-a")
    assert set(only_a["trunk"]) == {"PJSIP/carrier-a"}
    named = T.trunks(stream, trunks=["PJSIP/carrier-b"])
    assert set(named["direction"]) == {"outbound", "inbound"}


def test_no_events_gives_the_empty_table():
    out = T.trunks(pd.DataFrame())
    assert out.empty and list(out.columns)[:4] == ["direction", "trunk", "did", "seizures"]

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


# -- on the real recordings (40 answered, 41 abandoned, 42 timed out) ------------------------------------------------
def _recording(name: str) -> pd.DataFrame:
    from pathlib import Path

    import ami_nb

    return ami_nb.read_transcript(Path(__file__).parent / "fixtures" / "transcripts" / name)


@pytest.mark.parametrize("name", ["40_queue_answered.txt", "41_queue_abandon.txt", "42_queue_timeout.txt"])
def test_recordings_have_no_trunk(name):
    """Every channel of 40-42 is a Local channel (Originate of Local/300@demo, members Local/agentN@agents):
    by the default definition there is no trunk in them."""
    assert T.trunks(_recording(name)).empty


def test_queue_rings_as_seizures_on_recordings():
    """With the agents' Local channels named as the 'trunks', each ring of a member is a seizure (the facts of
    the recordings' README: 40 four answered rings and agent3's ring no answer; 41 two answered and agent3's ring
    cancelled by the caller's hangup; 42 five rings of agent3 that each ran out, AgentRingNoAnswer). The outbound
    rows: a Local pair's ``;2`` half, which no DialBegin made, shows as an inbound seizure."""
    agents = r"^Local/agent\d@agents$"

    def rings(name: str) -> pd.DataFrame:
        rep = T.trunks(_recording(name), trunks=agents)
        return rep[rep["direction"] == "outbound"].set_index("trunk")

    rep = rings("40_queue_answered.txt")
    assert rep.loc["Local/agent1@agents", "answered"] == 3 and rep.loc["Local/agent2@agents", "answered"] == 1
    a3 = rep.loc["Local/agent3@agents"]
    assert (a3["seizures"], a3["no answer"], a3["answered"], a3["asr"], a3["ner"]) == (1, 1, 0, 0.0, 1.0)
    # ACD: from the answer to the member channel's hangup; AgentComplete's TalkTime is whole seconds (4, 3, 4)
    assert abs(rep.loc["Local/agent1@agents", "acd"] - (4 + 3 + 4) / 3) <= 1
    assert abs(rep.loc["Local/agent2@agents", "acd"] - 5) <= 1
    rep = rings("41_queue_abandon.txt")
    assert rep["answered"].sum() == 2 and rep.loc["Local/agent3@agents", "cancelled"] == 1
    rep = rings("42_queue_timeout.txt")
    a3 = rep.loc["Local/agent3@agents"]
    assert (a3["seizures"], a3["no answer"], a3["asr"]) == (5, 5, 0.0)

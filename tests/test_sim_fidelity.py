"""The simulated PBX answers every recorded transcript's actions in the same shape as Asterisk 22.10.1 did.

For each transcript with a ``sent/`` file, the same actions go to a fresh simulator over a real socket (the MD5
key is recomputed for the new challenge); the answers are compared with the recording: responses in order
(keys in order, ``Response`` and ``Message`` values), list framing, and the item events of each list (names and
key sequences, repeated keys collapsed since counts depend on live state). Transcripts that need live calls get
the same situation first (long calls, queue callers, a paused agent). Transcript 25 was recorded over TLS and
is replayed over TLS (a throwaway self-signed certificate made with the ``openssl`` command).
"""

from __future__ import annotations

import functools
import hashlib
import json
import shutil
import ssl
import subprocess
import time
from pathlib import Path

import pytest
from fidelity_replay import compare, has_driver, per_channel, recorded, replay
from rawclient import RawAMI

from ami_nb.protocol import Message, Parser
from ami_nb.sim import SimPBX, start

FIX = Path(__file__).parent / "fixtures" / "transcripts"
SENT = sorted(p for p in (FIX / "sent").glob("*.sent.txt"))
#: recordings with a driver connection (and 44/45, transfers) are replayed with their timing below instead
NAMES = [p.name.removesuffix(".sent.txt") for p in SENT
         if not has_driver(p.name.removesuffix(".sent.txt")) and p.name[:2] not in ("44", "45")]


def _collapse(keys: list[str]) -> tuple[str, ...]:
    out: list[str] = []
    for k in keys:
        if not out or out[-1] != k:
            out.append(k)
    return tuple(out)


def _recorded(name: str) -> list[Message]:
    return Parser().feed((FIX / f"{name}.txt").read_bytes())


def _actions(name: str) -> list[bytes]:
    """The client's requests, one raw chunk per action (from the timeline: bare-LF and lowercase kept)."""
    out = []
    for line in (FIX / "timeline" / f"{name}.timeline.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if rec["dir"] == "out":
            out.append(rec["data"].encode("latin-1"))
    return out


def _shape(messages: list[Message], action_ids: set[str]) -> dict[str, object]:
    responses = []
    lists: dict[str, dict[str, set[tuple[str, ...]]]] = {}
    for m in messages:
        if m.is_response:
            responses.append((tuple(k for k, _ in m.pairs() if k != "Output"),
                              m.get("Response"), m.get("Message")))
            if m.get("EventList") == "start":
                lists.setdefault(m.get("ActionID", ""), {})
        elif m.is_event and m.get("ActionID") in action_ids and m.event != "OriginateResponse":
            lists.setdefault(m["ActionID"], {}).setdefault(m.event or "", set()).add(
                _collapse([k for k, _ in m.pairs()]))
    return {"responses": responses, "lists": lists}


def _setup_live(pbx: SimPBX, name: str) -> None:
    """The situation the recording was made in: long calls, queue callers, paused agents."""
    num = int(name[:2])
    if num not in (10, 15, 16, 17, 18, 30, 31):
        return
    with RawAMI(pbx.host, pbx.port) as drv:
        drv.login(events="off")
        for i in range(3):
            r = drv.action("Originate", f"long-{i}", Channel="Local/long@demo", Application="Wait", Data="50",
                           CallerID=f"Long Caller {i} <60{i}>", Variable=f"DEMOVAR=long{i}")
            assert r["Response"] == "Success", r
        if num in (17, 18, 15, 16, 10):
            r = drv.action("QueuePause", "pause", Queue="support", Interface="Local/agent1@agents/n",
                           Paused="true", Reason="lunch break")
            assert r["Response"] == "Success", r
            for m in ("Local/agent2@agents/n", "Local/agent3@agents/n"):
                drv.action("QueuePause", "pause2", Queue="support", Interface=m, Paused="true")
        drv.action("Logoff", "bye")
    if num in (17, 18, 15, 16, 10):
        for _ in range(2):
            pbx.call("queue")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with RawAMI(pbx.host, pbx.port) as c:
            c.login(events="off")
            r = c.action("QueueSummary", "qs")
            c.read_until(lambda: any(m.event == "QueueSummaryComplete" for m in c.messages))
            callers = [m for m in c.events("QueueSummary") if m["Queue"] == "support"]
            if num not in (17, 18, 15, 16, 10) or (callers and int(callers[0]["Callers"]) >= 2):
                return
        time.sleep(0.05)


@pytest.fixture(scope="module")
def tls_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 (EC key: fast to make)."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    d = tmp_path_factory.mktemp("tls")
    cert, key = str(d / "cert.pem"), str(d / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True, timeout=30)
    return cert, key


def _run(pbx: SimPBX, name: str, client_tls: ssl.SSLContext | None = None) -> list[Message]:
    c = RawAMI(pbx.host, pbx.port, ssl_context=client_tls)
    got: list[Message] = []
    challenge = None
    try:
        for raw in _actions(name):
            if challenge is not None and b"Key: " in raw:
                key = hashlib.md5((challenge + "amp111").encode()).hexdigest()
                head, _, rest = raw.partition(b"Key: ")
                raw = head + b"Key: " + key.encode() + rest[rest.index(b"\r\n"):]
            c.send_raw(raw)
            # one response per request, in order; items of a list come right after it
            n_before = sum(1 for m in got + c.messages if m.is_response)
            c.read_until(lambda n=n_before: sum(1 for m in got + c.messages if m.is_response) > n, 10)
            got.extend(c.messages)
            c.messages.clear()
            last = next((m for m in reversed(got) if m.is_response), None)
            if last is not None and last.get("Challenge"):
                challenge = last["Challenge"]
        c.read_until(lambda: False, 1.5 if name.startswith(("02", "24")) else 0.5)
        got.extend(c.messages)
        return got
    finally:
        c.close()


@pytest.mark.parametrize("name", NAMES)
def test_transcript_shape(name: str, request: pytest.FixtureRequest) -> None:
    recorded = _recorded(name)
    action_ids = {m["ActionID"] for m in Parser(expect_banner=False, lenient=True).feed(
        (FIX / "sent" / f"{name}.sent.txt").read_bytes()) if m.get("ActionID")}
    tls = client_tls = None
    if "tls" in name:
        tls = request.getfixturevalue("tls_pair")
        client_tls = ssl.create_default_context(cafile=tls[0])
    with start(seed=7, time_scale=1.0, auth_fail_delay=1.0, tls=tls) as pbx:
        _setup_live(pbx, name)
        got = _run(pbx, name, client_tls)
    if tls is not None:
        auth = next(m for m in got if m.event == "SuccessfulAuth")
        assert auth["RemoteAddress"].startswith("IPV4/TLS/")  # the session really ran over TLS
    want, have = _shape(recorded, action_ids), _shape(got, action_ids)
    assert [r[0] for r in have["responses"]] == [r[0] for r in want["responses"]]
    assert [r[1:] for r in have["responses"]] == [r[1:] for r in want["responses"]]
    assert set(have["lists"]) == set(want["lists"])
    for aid, items in want["lists"].items():
        mine = have["lists"][aid]
        if not items:  # an empty list in the recording: the simulator may hold more or less live state
            continue
        assert set(mine) == set(items), aid
        for event, shapes in items.items():
            assert mine[event] <= shapes, (aid, event, mine[event] - shapes)


def test_wrong_secret_waits_one_second_then_closes() -> None:
    with start(seed=1) as pbx, RawAMI(pbx.host, pbx.port) as c:
        t0 = time.monotonic()
        r = c.action("Login", "x", Username="admin", Secret="wrong-password")
        waited = time.monotonic() - t0
        assert (r["Response"], r["Message"]) == ("Error", "Authentication failed")
        assert waited >= 0.9
        assert c.read_until(lambda: c.eof, 3)


def test_login_events_match_transcript_01() -> None:
    rec = [m for m in _recorded("01_login_success") if m.is_event]
    with start(seed=1) as pbx, RawAMI(pbx.host, pbx.port) as c:
        c.login(events="on")
        c.read_until(lambda: len(c.events()) >= 2)
        mine = c.events()
    assert [m.event for m in mine] == [m.event for m in rec] == ["FullyBooted", "SuccessfulAuth"]
    assert [list(m) for m in mine] == [list(m) for m in rec]


def test_live_values_match_transcripts_10_15_16() -> None:
    """With the recording's three long calls up, their rows and list items carry the recorded values."""
    ignore = {"Uniqueid", "Linkedid", "Duration", "Seconds", "ActionID"}

    def items(messages: list[Message], event: str) -> dict[str, list[tuple[str, str]]]:
        return {m["Channel"]: [(k, v) for k, v in m.pairs() if k not in ignore]
                for m in messages if m.event == event and m["Channel"].startswith("Local/long@")}

    rec10 = next(m for m in _recorded("10_command_core_show_channels") if m.get("Output"))
    rec15 = _recorded("15_coreshowchannels")
    rec16 = [m for m in _recorded("16_status") if m.get("ActionID") == "16_status-2"]  # Status of all channels
    with start(seed=7) as pbx:
        _setup_live(pbx, "15")
        with RawAMI(pbx.host, pbx.port) as c:
            c.login(events="off")
            out = c.action("Command", "c", Command="core show channels").getall("Output")
            for action, done in (("CoreShowChannels", "CoreShowChannelsComplete"), ("Status", "StatusComplete")):
                c.send(action, action)
                c.read_until(lambda done=done: any(m.event == done for m in c.messages))
            mine = c.messages
    long_rows = sorted(r for r in rec10.getall("Output") if r.startswith("Local/long@"))
    assert sorted(r for r in out if r.startswith("Local/long@")) == long_rows
    assert len(long_rows) == 6
    assert items(mine, "CoreShowChannel") == items(rec15, "CoreShowChannel")
    assert items(mine, "Status") == items(rec16, "Status")


# -- recordings 40-48 replayed with their recorded timing (and their driver connection) ------------------------------
SCALE = 5.0  # simulated seconds per real second (42, 40 s, replays in 8 s; slack for a loaded machine)
#: the state the recorded server was in: 41 followed 40, whose last call Agent One took (rrmemory's rrpos)
STATE = {"41_queue_abandon": {"rr": 1}}
#: count differences that are races of the real server, not of the model (each with its reason). None today: the
#: order of 41-43's two Logins is the recorded one (the replay's doing), app_queue's Queue:* device states are
#: published only when they change (cachable), a Local channel's every time, as recorded
RACES: set[str] = set()
#: what the simulator does not do yet, by recording (the test fails when it starts to: then remove it here)
KNOWN: dict[str, dict[str, tuple[int, int]]] = {}
#: recordings whose per-caller Hangups are left out of the comparison (none: after 45's attended transfer the
#: connected-line updates give the recorded Hangups their new caller ids in the simulator too)
HANGUPS_BY_CALLER: dict[str, bool] = {}
#: key sequences the simulator gets wrong on purpose, by recording (none: FullyBooted has no Timestamp, as in 48)
KNOWN_KEYS: dict[str, set[str]] = {}
REPLAYED = ["40_queue_answered", "41_queue_abandon", "42_queue_timeout", "43_queue_members",
            "44_blind_transfer", "45_attended_transfer", "46_queuesummary_waiting",
            "47_coreshowchannels_status_5calls", "48_events_timestamps"]


@functools.cache  # each recording is replayed once per test run
def _replayed(name: str) -> tuple[list[Message], list[Message]]:
    with start(seed=1, time_scale=SCALE, start_time=1_796_187_355.0,
               timestampevents=name.startswith("48")) as pbx:
        for key, value in STATE.get(name, {}).items():
            setattr(pbx._server.pbx.queues["support"], key, value)
        r = replay(pbx.host, pbx.port, name, SCALE)
    return [m for _, m in recorded(name)], r.main


@pytest.mark.parametrize("name", REPLAYED)
def test_recording_replayed_at_its_timing(name: str) -> None:
    """The same events (counts by name, CEL by EventName, VarSet by variable), every simulated key sequence one
    the recording has, each caller's queue/transfer events in order with the values that carry meaning, each
    queue member's status changes in order, durations within a second, the same responses."""
    rec, sim = _replayed(name)
    d = compare(rec, sim, unordered=("Hangup",) if HANGUPS_BY_CALLER.get(name, True) else ())
    counts = {k: v for k, v in d.counts.items() if k not in RACES}
    assert counts == KNOWN.get(name, {})
    assert set(d.keys) == KNOWN_KEYS.get(name, set())
    assert d.per_caller == {}
    assert d.seconds == []
    assert d.responses is None
    assert sum(m.is_event for m in sim) >= 0.85 * sum(m.is_event for m in rec)


@pytest.mark.parametrize("name", REPLAYED)
def test_each_channels_events_in_recorded_order(name: str) -> None:
    """Channel by channel, the same AMI events in the same order as recorded (CEL and Cdr aside: see
    ``per_channel``): each Local half's Dial, bridge, transfer, queue and hangup steps as Asterisk sent them."""
    rec, sim = _replayed(name)
    want, have = per_channel(rec), per_channel(sim)
    assert set(have) == set(want)
    assert {c: have[c] for c in want if have[c] != want[c]} == {}


def _events(msgs: list[Message], *names: str) -> list[Message]:
    return [m for m in msgs if m.event in names or (m.event == "VarSet" and m.get("Variable") in names)]


def test_queue_timeout_is_an_abandon_event_then_queuestatus_timeout() -> None:
    """Recording 42: a timeout sends QueueCallerAbandon (HoldTime = the 30 s timeout), QueueCallerLeave, then
    QUEUESTATUS=TIMEOUT, and the dialplan goes on; a caller who hangs up (41) gets no QUEUESTATUS."""
    _, sim = _replayed("42_queue_timeout")
    flow = [(m.event, m.get("HoldTime") or m.get("Value") or m.get("AppData") or m.get("RingTime"))
            for m in _events(sim, "QueueCallerAbandon", "QueueCallerLeave", "QUEUESTATUS", "AgentRingNoAnswer")]
    assert flow == [("AgentRingNoAnswer", "5000")] * 5 + [
        ("QueueCallerAbandon", "30"), ("QueueCallerLeave", None), ("VarSet", "TIMEOUT")]
    verbose = [m["AppData"] for m in sim if m.event == "Newexten" and m.get("Application") == "Verbose"]
    assert verbose == ["2,Queue finished: TIMEOUT"]
    _, sim41 = _replayed("41_queue_abandon")
    (hold,) = [int(m["HoldTime"]) for m in _events(sim41, "QueueCallerAbandon")]
    assert abs(hold - 3) <= 1  # recorded 3 (whole seconds of time(NULL) on the real server)
    assert not _events(sim41, "QUEUESTATUS")


def test_queue_answered_connects_after_leave_and_rings_the_penalty_member_only_when_needed() -> None:
    """Recording 40: QueueCallerLeave before AgentConnect; rrmemory with agent3 (penalty 1) rung only while
    agents 1 and 2 are busy; AgentRingNoAnswer after the 5 s member timeout; AgentComplete Reason agent."""
    _, sim = _replayed("40_queue_answered")
    names = [m.event for m in _events(sim, "QueueCallerLeave", "AgentConnect")]
    assert names == ["QueueCallerLeave", "AgentConnect"] * 4
    assert [m["MemberName"] for m in _events(sim, "AgentCalled")] == [
        "Agent One", "Agent Two", "Agent One", "Agent Three", "Agent One"]
    assert [m["MemberName"] for m in _events(sim, "AgentRingNoAnswer")] == ["Agent Three"]
    assert {m["Reason"] for m in _events(sim, "AgentComplete")} == {"agent"}
    ringing = [m["Status"] for m in _events(sim, "QueueMemberStatus") if m["MemberName"] == "Agent Three"]
    assert ringing == ["2", "1"]  # a ringing Local member is INUSE (2), never RINGING (6)


def test_queue_member_timing_on_the_virtual_clock() -> None:
    """Member timeout 5 s, retry 1 s, Queue() timeout 30 s (queues.conf and extensions.conf 300)."""
    from ami_nb.sim.model import PBX

    events: list[tuple[float, str, dict[str, str]]] = []
    t0 = 1_800_000_000.0
    pbx = PBX(lambda n, p, pairs, now: events.append((now - t0, n, dict(pairs))), seed=1, start_time=t0)
    for m in pbx.queues["support"].members[:2]:
        m.paused = True
    pbx.sched.add(pbx.originate("Local/300@demo", context="demo", exten="long", callerid="Q <5553001>"))
    pbx.sched.run_until(t0 + 120)
    at = {n: [round(t, 1) for t, name, _ in events if name == n] for n in
          ("QueueCallerJoin", "AgentCalled", "AgentRingNoAnswer", "QueueCallerAbandon")}
    join = at["QueueCallerJoin"][0]
    assert [round(t - join, 1) for t in at["AgentCalled"]] == [0.0, 6.0, 12.0, 18.0, 24.0]
    assert [round(t - join, 1) for t in at["AgentRingNoAnswer"]] == [5.0, 11.0, 17.0, 23.0, 29.0]
    assert [round(t - join, 1) for t in at["QueueCallerAbandon"]] == [30.0]
    assert not pbx.linked


def test_transfers_as_recorded() -> None:
    """44: Transfer succeeded, Unhold then BlindTransfer, the transferee runs 2100 and dials 2101; 45: Atxfer
    queued, Hold, the consultation, AttendedTransfer DestType Bridge once the transferer hangs up, no Unhold."""
    _, sim44 = _replayed("44_blind_transfer")
    resp = [m["Message"] for m in sim44 if m.is_response]
    assert resp[2] == "Transfer succeeded"
    names = [m.event for m in sim44 if m.event in ("Unhold", "BlindTransfer")]
    assert names == ["Unhold", "BlindTransfer"]
    (bt,) = [m for m in sim44 if m.event == "BlindTransfer"]
    assert (bt["Result"], bt["IsExternal"], bt["Context"], bt["Extension"]) == ("Success", "Yes", "xfer", "2100")
    assert bt["TransfererChannel"].startswith("Local/2001@xfer-") and bt["TransfereeChannel"].endswith(";2")
    assert any(m.event == "DialBegin" and m["DestChannel"].startswith("Local/2101@xfer-") for m in sim44)
    _, sim45 = _replayed("45_attended_transfer")
    assert [m["Message"] for m in sim45 if m.is_response][2] == "Atxfer successfully queued"
    (at,) = [m for m in sim45 if m.event == "AttendedTransfer"]
    assert (at["Result"], at["IsExternal"], at["DestType"]) == ("Success", "No", "Bridge")
    assert at["DestBridgeUniqueid"] == at["OrigBridgeUniqueid"]
    assert at["TransferTargetChannel"].startswith("Local/2200@xfer-")
    assert [m.event for m in sim45 if m.event in ("Hold", "Unhold")] == ["Hold"]


def test_atxfer_needs_a_feature_code() -> None:
    """Without FEATUREMAP(atxfer) on the channel (the default featuremap has none): the recorded error."""
    with start(seed=1, time_scale=50) as pbx, RawAMI(pbx.host, pbx.port) as c:
        c.login(events="on")
        c.action("Originate", "o", Channel="Local/long@demo", Context="demo", Exten="long", Priority="1",
                 Async="true")
        c.wait_event(lambda m: m.event == "Newexten" and m.get("Application") == "Wait", 5)
        chan = next(m["Channel"] for m in c.events("Newchannel") if m["Channel"].endswith(";1"))
        r = c.action("Atxfer", "a", Channel=chan, Exten="2200", Context="xfer")
        assert (r["Response"], r["Message"]) == ("Error", "No attended transfer feature code found")
        r = c.action("BlindTransfer", "b", Channel=chan, Exten="2100", Context="xfer")
        assert (r["Response"], r["Message"]) == ("Error", "Transfer invalid")  # not bridged
        r = c.action("BlindTransfer", "c", Channel="Local/none@demo-00000099;1", Exten="2100")
        assert (r["Response"], r["Message"]) == ("Error", "Channel specified does not exist")

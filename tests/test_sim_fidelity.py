"""The simulated PBX answers every recorded transcript's actions in the same shape as Asterisk 22.10.1 did.

For each transcript with a ``sent/`` file, the same actions go to a fresh simulator over a real socket (the MD5
key is recomputed for the new challenge); the answers are compared with the recording: responses in order
(keys in order, ``Response`` and ``Message`` values), list framing, and the item events of each list (names and
key sequences, repeated keys collapsed since counts depend on live state). Transcripts that need live calls get
the same situation first (long calls, queue callers, a paused agent). Transcript 25 was recorded over TLS and
is replayed over TLS (a throwaway self-signed certificate made with the ``openssl`` command).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import ssl
import subprocess
import time
from pathlib import Path

import pytest
from rawclient import RawAMI

from ami_nb.protocol import Message, Parser
from ami_nb.sim import SimPBX, start

FIX = Path(__file__).parent / "fixtures" / "transcripts"
SENT = sorted(p for p in (FIX / "sent").glob("*.sent.txt"))
NAMES = [p.name.removesuffix(".sent.txt") for p in SENT]


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

"""The magics in a real IPython shell, against the simulated PBX over loopback."""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from scripted_server import ScriptedServer

import ami_nb.magics as magics_mod
from ami_nb import sim
from ami_nb.protocol import Config, Message
from ami_nb.widgets import LiveView

SECRET = "Xq7-s3cr3t-Zz"  # the one secret of these tests: it must show up nowhere
SIM_OPTIONS = "{'background_traffic': False, 'time_scale': 200.0, 'auth_fail_delay': 0.0}"


@pytest.fixture(scope="module")
def shell(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InteractiveShell]:
    old = os.environ.get("IPYTHONDIR")
    os.environ["IPYTHONDIR"] = str(tmp_path_factory.mktemp("ipython"))
    try:
        ip = InteractiveShell.instance()
        ip.run_line_magic("load_ext", "ami_nb")
        ip.run_line_magic("config", "AmiMagics.timeout = 5.0")
        ip.run_line_magic("config", f"AmiMagics.sim_options = {SIM_OPTIONS}")
        ip.run_line_magic("config", "AmiMagics.connections_file = ''")
        yield ip
        ip.run_line_magic("unload_ext", "ami_nb")
    finally:
        if old is None:
            os.environ.pop("IPYTHONDIR", None)
        else:
            os.environ["IPYTHONDIR"] = old


@pytest.fixture
def ami(shell: InteractiveShell) -> Iterator[magics_mod.AmiMagics]:
    """The magics object; every connection is closed after the test."""
    m = magics_mod._LOADED[id(shell)]
    yield m
    m.close_all()


@pytest.fixture
def pbx() -> Iterator[Any]:
    """A second simulated PBX with a user whose secret is SECRET."""
    p = sim.start(users={"alice": (SECRET, "all", "all")}, auth_fail_delay=0.0, time_scale=200.0)
    yield p
    p.stop()


def run(shell: InteractiveShell, src: str, *, error: type[BaseException] | None = None) -> Any:
    """Run a cell as a user would (stored in history); return its value."""
    res = shell.run_cell(src, store_history=True)
    exc = res.error_in_exec or res.error_before_exec
    if error is None:
        assert exc is None, f"{src!r} raised {exc!r}"
    else:
        assert isinstance(exc, error), f"{src!r}: expected {error.__name__}, got {exc!r}"
    return res.result


def wait_for(cond: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


# -- connecting ----------------------------------------------------------------------------------------------
def test_connect_without_argument_starts_the_embedded_pbx(shell, ami, capsys) -> None:  # type: ignore[no-untyped-def]
    assert run(shell, "%ami_connect") is None
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    assert "embedded simulated PBX" in out[0] and "as admin" in out[0] and "AMI 11.0.0" in out[0]
    conn = ami.connection()
    assert conn.alias == "sim" and conn.sim is not None and conn.session.state == "connected"
    assert f":{conn.sim.port}" in out[0]
    status = run(shell, "%ami_status")
    assert list(status.index) == ["sim"] and status.loc["sim", "state"] == "connected"
    assert bool(status.loc["sim", "embedded_pbx"]) and bool(status.loc["sim", "default"])


def test_connect_url_aliases_and_default(shell, ami, pbx, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("AMI_SECRET", SECRET)
    run(shell, "%ami_connect")
    run(shell, f"%ami_connect ami://alice@127.0.0.1:{pbx.port} --alias second --md5")
    out = capsys.readouterr().out
    assert f"ami://alice@127.0.0.1:{pbx.port} as alice" in out
    assert set(ami.connections) == {"sim", "second"} and ami.current == "second"
    assert ami.connection().session.client.auth_used == "md5"
    assert run(shell, "%ami_action Ping")["Ping"] == "Pong"  # the last connected is the default
    assert run(shell, "%ami_action --alias sim Ping")["Ping"] == "Pong"
    status = run(shell, "%ami_status")
    assert status["default"].to_dict() == {"sim": False, "second": True}
    assert status.loc["second", "actions_sent"] >= 1
    run(shell, "%ami_disconnect --alias second")
    assert ami.current == "sim" and set(ami.connections) == {"sim"}
    run(shell, "%ami_disconnect")
    assert ami.connections == {} and ami.current is None
    assert run(shell, "%ami_status").empty
    run(shell, "%ami_action Ping", error=UsageError)


def test_connections_file_section(shell, ami, pbx, tmp_path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("AMI_SECRET", raising=False)
    ini = tmp_path / "connections.ini"
    ini.write_text(f"[lab]\nhost = 127.0.0.1\nport = {pbx.port}\nusername = alice\nsecret = {SECRET}\n")
    ini.chmod(0o600)
    monkeypatch.setattr(magics_mod.getpass, "getpass", lambda prompt="": pytest.fail("prompted"))
    shell.run_line_magic("config", f"AmiMagics.connections_file = {str(ini)!r}")
    try:
        run(shell, "%ami_connect lab")
        assert ami.current == "lab" and ami.connection().session.state == "connected"
        # a URL naming the same target finds its secret in the file too
        run(shell, f"%ami_connect ami://alice@127.0.0.1:{pbx.port} -a again")
        assert ami.connection("again").session.state == "connected"
        run(shell, "%ami_connect --section nosuch", error=UsageError)
        assert "other users can read it" not in capsys.readouterr().err
        ini.chmod(0o644)
        run(shell, "%ami_connect lab -a readable")
        assert "other users can read it: chmod 600" in capsys.readouterr().err
    finally:
        shell.run_line_magic("config", "AmiMagics.connections_file = ''")


def test_secret_in_url_is_refused_and_scrubbed(shell, ami, pbx, capsys) -> None:  # type: ignore[no-untyped-def]
    shell.run_cell("unrelated = 'a cell that holds the letter a, as every short secret would'", store_history=True)
    run(shell, "%ami_connect ami://alice:a@127.0.0.1:1", error=UsageError)  # a one-letter secret
    assert "unrelated = 'a cell that holds the letter a, as every short secret would'" in shell.user_ns["In"]
    assert "ami://alice:***@127.0.0.1:1" in shell.user_ns["In"][-1]
    run(shell, f"%ami_connect ami://alice:{SECRET}@127.0.0.1:{pbx.port}", error=UsageError)
    assert ami.connections == {}
    captured = capsys.readouterr()
    assert "no secret in the URL" in captured.out + captured.err and SECRET not in captured.out + captured.err
    assert not any(SECRET in src for src in shell.user_ns["In"])
    assert "ami://alice:***@" in shell.user_ns["In"][-1] and SECRET not in shell.user_ns["_i"] + shell.user_ns["_"]
    hm = shell.history_manager
    hm.writeout_cache()
    rows = list(hm.db.execute("SELECT source, source_raw FROM history"))
    assert rows and not any(SECRET in cell for row in rows for cell in row)


def test_secret_never_reaches_history_reprs_or_errors(shell, ami, pbx, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("AMI_SECRET", raising=False)
    prompts: list[str] = []

    def fake_getpass(prompt: str = "") -> str:
        prompts.append(prompt)
        return SECRET

    monkeypatch.setattr(magics_mod.getpass, "getpass", fake_getpass)
    run(shell, f"%ami_connect ami://alice@127.0.0.1:{pbx.port} --alias hidden")
    assert prompts and SECRET not in prompts[0] and "alice@127.0.0.1" in prompts[0]
    run(shell, "%ami_status")
    run(shell, "%ami_action Ping")
    run(shell, "conn = %ami_status")
    # a wrong secret: the error names the failure, never the secret tried
    wrong = SECRET[::-1]
    monkeypatch.setattr(magics_mod.getpass, "getpass", lambda prompt="": wrong)
    shell.run_cell(f"%ami_connect ami://alice@127.0.0.1:{pbx.port} --alias bad", store_history=True)
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "cannot connect" in text and "bad" not in ami.connections
    assert wrong not in text and SECRET not in text
    # the history: In, Out, and the database on disk
    assert not any(SECRET in src for src in shell.user_ns["In"])
    assert not any(SECRET in repr(v) for v in shell.user_ns["Out"].values())
    hm = shell.history_manager
    hm.writeout_cache()
    rows = list(hm.db.execute("SELECT source, source_raw FROM history"))
    rows += list(hm.db.execute("SELECT output FROM output_history"))
    assert rows and not any(SECRET in (cell or "") or wrong in (cell or "") for row in rows for cell in row)
    # reprs of everything a user can reach
    conn = ami.connection("hidden")
    for obj in (ami, conn, conn.session, conn.session.client, ami.connections):
        assert SECRET not in repr(obj) and SECRET not in str(obj)
    assert SECRET not in repr(run(shell, "%ami_status").to_dict())


# -- actions -------------------------------------------------------------------------------------------------
def test_action_result_shapes(shell, ami) -> None:  # type: ignore[no-untyped-def]
    run(shell, "%ami_connect")
    ping = run(shell, "%ami_action Ping")
    assert ping["Response"] == "Success" and ping["Ping"] == "Pong"  # dict-like
    lines = run(shell, "%%ami_action\nAction: Command\nCommand: core show version\n")
    assert isinstance(lines, list) and lines[0].startswith("Asterisk 22")
    cfg = run(shell, "%%ami_action GetConfig\nFilename: extensions.conf\n")
    assert isinstance(cfg, Config) and ("exten", "200,hint,Local/200@demo") in cfg["demo"]
    queues = run(shell, "%ami_action QueueStatus")
    assert isinstance(queues, pd.DataFrame)
    assert {"QueueParams", "QueueMember"} <= set(queues["Event"]) and "support" in set(queues["Queue"])
    assert queues.attrs["response"]["Response"] == "Success"
    sim_pbx = ami.connection().sim
    sim_pbx.call("answered", talk=3000.0, ring=1.0)  # up for several real seconds
    wait_for(lambda: len(run(shell, "%ami_action CoreShowChannels")) >= 2)
    chans = run(shell, "%ami_action CoreShowChannels")
    assert (chans["Event"] == "CoreShowChannel").all() and chans["Channel"].str.contains("/").all()
    assert chans["Linkedid"].nunique() == 1  # both legs of the one call


def test_several_actions_fill_and_out(shell, ami) -> None:  # type: ignore[no-untyped-def]
    run(shell, "%ami_connect")
    run(shell, "fname = 'extensions.conf'\ncat = 'agents'")
    body = (
        "%%ami_action -o results\n"
        "Action: Ping\n"
        "\n"
        "# a comment line is skipped\n"
        "Action: GetConfig\n"
        "Filename: {fname}\n"
        "Category: {cat}\n"
        "\n"
        "Action: Command\n"
        "Command: core show version\n"
    )
    value = run(shell, body)
    assert shell.user_ns["results"] is value
    ping, cfg, lines = value
    assert ping["Ping"] == "Pong" and list(cfg) == ["agents"] and lines[0].startswith("Asterisk")
    run(shell, "%%ami_action GetConfig\nFilename: {nosuchvar}\n", error=UsageError)
    # ${...} is Asterisk's syntax and goes through untouched (here as an Originate's variable)
    fields = magics_mod.parse_actions(magics_mod.fill("Data: ${EXTEN} {cat}\n", {"cat": "x"}), "Originate")
    assert fields == [("Originate", {"Data": "${EXTEN} x"})]


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedServer]:
    """A scripted server that answers UserEvent and records every action it parses off the wire."""
    srv = ScriptedServer(auth_fail_delay=0.0)
    srv.reply("UserEvent", lambda conn, msg: [{"Response": "Success", "Message": "Event Sent"}])
    srv.start()
    monkeypatch.setenv("AMI_SECRET", "amp111")
    yield srv
    srv.stop()


def sent_actions(srv: ScriptedServer) -> list[str]:
    session_upkeep = {"login", "challenge", "ping", "events", "logoff"}  # the client's own, not the cell's
    return [str(msg.get("Action")) for _, msg in srv.received if str(msg.get("Action")).lower() not in session_upkeep]


@pytest.mark.parametrize("evil", [
    "hello\r\nAction: Command\r\nCommand: core stop now",  # CRLF: a Command inside the UserEvent
    "hello\nCommand: core stop now",  # a bare LF: Asterisk reads it as a line too
    "hello\n\nAction: Originate\nChannel: Local/1@demo\nApplication: Hangup",  # a blank line: a new action
    "hello\rworld",
    "hello\x00Command: x",
])
def test_a_filled_value_cannot_inject_headers_or_actions(shell, ami, scripted, evil) -> None:  # type: ignore[no-untyped-def]
    run(shell, f"%ami_connect ami://admin@127.0.0.1:{scripted.port}")
    shell.user_ns["caller"] = "ok"
    shell.user_ns["note"] = evil
    cell = "%%ami_action\nAction: UserEvent\nUserEvent: Check\nCaller: {caller}\nBody: {note}\n"
    res = shell.run_cell(cell)
    err = res.error_in_exec
    assert isinstance(err, UsageError) and "the value of Body" in str(err) and "nothing was sent" in str(err)
    assert "core stop" not in str(err)
    # a cell whose first action is clean and whose second is not sends neither
    cell2 = "%%ami_action\nAction: UserEvent\nUserEvent: First\n\nAction: UserEvent\nUserEvent: {note}\n"
    assert isinstance(shell.run_cell(cell2).error_in_exec, UsageError)
    # a clean value goes through, whole, into its own field: proof the path to the server is open
    shell.user_ns["note"] = "hello: world {not a field}"
    run(shell, cell)
    got = scripted.wait_action("UserEvent")
    assert got["Body"] == "hello: world {not a field}" and got["Caller"] == "ok"
    assert sent_actions(scripted) == ["UserEvent"]  # no Command, no Originate, no second UserEvent


def test_fill_happens_after_the_split() -> None:
    actions = magics_mod.parse_actions("Action: Originate\nVariable: A={a}\nVariable: B={b}\n# {undefined}\n", None)
    got = magics_mod.fill_actions(actions, {"a": "1", "b": "x: y"})
    assert got == [("Originate", {"Variable": ["A=1", "B=x: y"]})]
    with pytest.raises(UsageError, match="the value of Variable"):
        magics_mod.fill_actions(actions, {"a": "1\r\nChannel: x", "b": "2"})
    key_actions = magics_mod.parse_actions("Action: {act}\n{hdr}: v\n", None)
    assert magics_mod.fill_actions(key_actions, {"act": "Ping", "hdr": "X-Note"}) == [("Ping", {"X-Note": "v"})]
    with pytest.raises(UsageError, match=re.escape("the key '{hdr}'")):
        magics_mod.fill_actions(key_actions, {"act": "Ping", "hdr": "A\nB"})
    with pytest.raises(UsageError, match="the action name"):
        magics_mod.fill_actions(key_actions, {"act": "Ping\nCommand", "hdr": "X"})


def test_parse_actions_repeated_keys_and_errors() -> None:
    got = magics_mod.parse_actions("Action: Originate\nVariable: A=1\nVariable: B=2\nChannel:Local/1@demo\n", None)
    assert got == [("Originate", {"Variable": ["A=1", "B=2"], "Channel": "Local/1@demo"})]
    with pytest.raises(UsageError, match="no action"):
        magics_mod.parse_actions("Channel: x\n", None)
    with pytest.raises(UsageError, match="Key: Value"):
        magics_mod.parse_actions("Action: Ping\nnot a header\n", None)


def test_error_is_one_line_on_stderr(shell, ami, capsys) -> None:  # type: ignore[no-untyped-def]
    run(shell, "%ami_connect")
    capsys.readouterr()
    value = run(shell, "%%ami_action -o bad\nAction: NoSuchAction\n\nAction: Ping\n")
    err = capsys.readouterr().err.strip()
    assert value is None and "bad" not in shell.user_ns
    assert err.count("\n") == 0 and "Traceback" not in err
    assert err.startswith("AMI NoSuchAction failed: Invalid/unknown command")
    shell.run_line_magic("config", "AmiMagics.raise_errors = True")
    try:
        run(shell, "%ami_action NoSuchAction", error=UsageError)
    finally:
        shell.run_line_magic("config", "AmiMagics.raise_errors = False")


def test_raw_messages(shell, ami) -> None:  # type: ignore[no-untyped-def]
    run(shell, "%ami_connect")
    msgs = run(shell, "%ami_action --raw QueueStatus")
    assert all(isinstance(m, Message) for m in msgs)
    assert msgs[0]["Response"] == "Success" and msgs[-1]["Event"] == "QueueStatusComplete"
    assert int(msgs[-1]["ListItems"]) == len(msgs) - 2


# -- events ---------------------------------------------------------------------------------------------------
def test_events_accumulate_while_a_cell_sleeps(shell, ami) -> None:  # type: ignore[no-untyped-def]
    run(shell, "%ami_connect")
    store = ami.connection().session.events
    before = store.total
    ami.connection().sim.call("answered", talk=60.0)  # 60 simulated seconds: 0.3 s at this time scale
    t0 = pd.Timestamp.now(tz="UTC")
    run(shell, "import time\ntime.sleep(1.0)")
    t1 = pd.Timestamp.now(tz="UTC")
    df = run(shell, "%ami_events")
    assert store.total > before
    arrived = df[(df["received"] >= t0) & (df["received"] <= t1)]
    assert len(arrived) > 0 and "Hangup" in set(arrived["Event"])  # read by the session thread meanwhile


def test_events_filters(shell, ami) -> None:  # type: ignore[no-untyped-def]
    run(shell, "%ami_connect")
    conn = ami.connection()
    conn.sim.call("busy")
    conn.sim.call("answered", talk=1.0)
    wait_for(lambda: len(conn.session.events["Hangup"]) >= 3)
    everything = run(shell, "%ami_events")
    hang = run(shell, "%ami_events Hangup")
    assert len(hang) >= 3 and set(hang["Event"]) == {"Hangup"}
    both = run(shell, "%ami_events Newchannel Hangup")
    assert set(both["Event"]) == {"Newchannel", "Hangup"}
    wild = run(shell, "%ami_events Dial*")
    assert set(wild["Event"]) <= {"DialBegin", "DialEnd", "DialState"} and len(wild) > 0
    assert len(run(shell, "%ami_events --last 2")) == 2
    run(shell, "%ami_events -o ev Hangup --last 1")
    assert len(shell.user_ns["ev"]) == 1
    assert run(shell, "%ami_events --since 1h").shape == everything.shape
    assert run(shell, "%ami_events --since 2100-01-01").empty
    shell.run_line_magic("config", "AmiMagics.autolimit = 3")
    try:
        assert len(run(shell, "%ami_events")) == 3
    finally:
        shell.run_line_magic("config", "AmiMagics.autolimit = 0")


def test_live_view_and_disconnect_stops_it(shell, ami) -> None:  # type: ignore[no-untyped-def]
    run(shell, "%ami_connect")
    view = run(shell, "%ami_live --rate 20")
    assert isinstance(view, LiveView) and view.running
    ami.connection().sim.call("answered")
    wait_for(lambda: view.counters.get("received", 0) > 0)
    assert "connected" in view.header.value
    again = run(shell, "%ami_live")
    assert not view.running and again.running  # one view per connection
    assert run(shell, "%ami_status").loc["sim", "live_views"] == 1
    run(shell, "%ami_disconnect")
    assert not again.running


def test_status_shows_each_listeners_delivered_and_skipped(shell, ami, capsys) -> None:  # type: ignore[no-untyped-def]
    run(shell, "%ami_connect")
    conn = ami.connection()
    session = conn.session
    gate = threading.Event()
    seen: list[str] = []

    def stuck(event: Any) -> None:  # a listener far slower than the events: it waits until the test lets it go
        gate.wait(10)

    def quick(event: Any) -> None:
        seen.append(event["Event"])

    before, hangups_before = session.events.total, len(session.events.frame("Hangup"))
    session.on("*", stuck, queue=5)
    session.on("Hangup", quick)
    conn.sim.call("answered", talk=1.0)
    conn.sim.call("busy")
    # Quiet first, from facts rather than a count of callbacks: the simulator says both calls ended (their last
    # events are written by then), and a Ping answered after them means the client has offered every one of
    # those events to both listeners (it stores a batch, then notifies the listeners, then resolves responses).
    wait_for(lambda: (lambda gt: len(gt) == 2 and bool(gt["finished"].all()))(conn.sim.ground_truth()))
    session.action("Ping")
    arrived = session.events.total - before
    n_hangups = len(session.events.frame("Hangup")) - hangups_before
    # seen.append runs inside the callback, the delivered count after it returns: wait for the count
    wait_for(lambda: [ls["delivered"] for ls in session.listener_stats() if ls["pattern"] == "hangup"] == [n_hangups])
    capsys.readouterr()
    status = run(shell, "%ami_status")
    row = status.loc["sim"]
    assert row["listeners"] == 2 and row["listener_skipped"] > 0
    per = run(shell, "%ami_status --listeners")
    assert list(per.index) == [("sim", "*"), ("sim", "hangup")]
    s, q = per.loc[("sim", "*")], per.loc[("sim", "hangup")]
    assert s["callback"].endswith("stuck") and s["max_queue"] == 5 and s["queued"] <= 5
    assert s["skipped"] >= arrived - 5 - 1  # at most its queue and the one in its hands are left
    assert q["skipped"] == 0 and q["delivered"] == len(seen)
    err = capsys.readouterr().err
    assert "stuck" in err and f"skipped {s['skipped']:,} events" in err and "hangup" not in err.lower()
    gate.set()  # let it go: every event is then delivered or counted as skipped, none vanished
    wait_for(lambda: (lambda st: st["queued"] == 0 and st["delivered"] + st["skipped"] >= arrived)(
        session.listener_stats()[0]))
    final = run(shell, "%ami_status --listeners").loc[("sim", "*")]
    assert final["delivered"] + final["skipped"] == arrived and final["skipped"] == s["skipped"]
    assert len(session.events) == session.events.total and session.events.total - before == arrived  # store whole


def test_config_and_help(shell) -> None:  # type: ignore[no-untyped-def]
    magics = magics_mod._LOADED[id(shell)]
    assert magics in shell.configurables
    shell.run_line_magic("config", "AmiMagics.live_rate = 4.5")
    assert magics.live_rate == 4.5
    names = set(magics_mod.AmiMagics.class_trait_names(config=True))
    assert {"timeout", "autolimit", "live_rate", "default_url", "store_capacity", "connections_file"} <= names
    doc = magics_mod.AmiMagics.ami_connect.__doc__
    assert "--alias" in doc and "--md5" in doc and "--tls" in doc and "AMI_SECRET" in doc
    assert "-o" in magics_mod.AmiMagics.ami_action.__doc__


def test_unknown_alias_and_bad_scheme(shell, ami) -> None:  # type: ignore[no-untyped-def]
    run(shell, "%ami_events --alias nobody", error=UsageError)
    run(shell, "%ami_connect http://admin@127.0.0.1:1", error=UsageError)


def test_default_url_trait(shell, ami, pbx, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("AMI_SECRET", SECRET)
    shell.run_line_magic("config", f"AmiMagics.default_url = 'ami://alice@127.0.0.1:{pbx.port}'")
    try:
        run(shell, "%ami_connect")
        conn = ami.connection()
        assert conn.sim is None and conn.session.url == f"ami://alice@127.0.0.1:{pbx.port}"
    finally:
        shell.run_line_magic("config", "AmiMagics.default_url = ''")


def test_store_capacity_trait(shell, ami) -> None:  # type: ignore[no-untyped-def]
    shell.run_line_magic("config", "AmiMagics.store_capacity = 5")
    try:
        run(shell, "%ami_connect")
        conn = ami.connection()
        conn.sim.call("answered", talk=1.0)
        wait_for(lambda: conn.session.events.total > 5)
        status = run(shell, "%ami_status")
        assert status.loc["sim", "events_held"] == 5 and status.loc["sim", "events_dropped"] > 0
    finally:
        shell.run_line_magic("config", "AmiMagics.store_capacity = 1000000")


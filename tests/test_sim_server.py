"""Server behaviour of the simulated PBX over real sockets: sessions, permissions, timeouts, many and slow
clients, determinism, ground truth, flood, replay and the command line."""

from __future__ import annotations

import math
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from rawclient import RawAMI

from ami_nb.protocol import Message, Parser
from ami_nb.sim import SimPBX, start
from ami_nb.sim.replay import load_events, start_replay

FIX = Path(__file__).parent / "fixtures" / "transcripts"


def test_handle_basics_and_users() -> None:
    with start(seed=1) as pbx:
        assert pbx.url == f"ami://admin@127.0.0.1:{pbx.port}"
        assert pbx.users["admin"].secret == "amp111" and pbx.users["limited"].write == "originate"
        assert "amp111" not in repr(pbx.users["admin"])
        with RawAMI(pbx.host, pbx.port) as c:
            assert c.parser.banner is not None and c.parser.banner.text == "Asterisk Call Manager/11.0.0"
    with pytest.raises(RuntimeError):
        pbx.call("answered")


def test_custom_users_and_md5_login() -> None:
    import hashlib

    with start(users={"ops": ("s3cret", "call,agent", "originate")}) as pbx, RawAMI(pbx.host, pbx.port) as c:
        ch = c.action("Challenge", "c", AuthType="MD5")["Challenge"]
        key = hashlib.md5((ch + "s3cret").encode()).hexdigest()
        r = c.action("Login", "l", AuthType="MD5", Username="ops", Key=key, Events="off")
        assert r["Message"] == "Authentication accepted"
        assert c.action("Command", "x", Command="core show version")["Message"] == "Permission denied"


def test_action_before_login_and_logoff() -> None:
    with start() as pbx, RawAMI(pbx.host, pbx.port) as c:
        for name in ("Ping", "CoreStatus", "Originate"):
            assert c.action(name, name)["Message"] == "Permission denied"
        assert c.action("Logoff", "bye")["Response"] == "Goodbye"
        assert c.read_until(lambda: c.eof, 3)


def test_authtimeout_closes_silent_connections_only() -> None:
    with start(authtimeout=0.3) as pbx, RawAMI(pbx.host, pbx.port) as idle, RawAMI(pbx.host, pbx.port) as busy:
        busy.login(events="off")
        assert idle.read_until(lambda: idle.eof, 5)
        time.sleep(0.4)
        assert busy.action("Ping", "p")["Ping"] == "Pong"


def test_permissions_of_limited_user() -> None:
    with start() as pbx, RawAMI(pbx.host, pbx.port) as c:
        assert c.login("limited", "lim123", events="off")["Message"] == "Authentication accepted"
        for name, fields in (("Command", {"Command": "core show version"}), ("GetConfig", {"Filename": "x"}),
                             ("CoreStatus", {}), ("SimFlood", {"Count": "10"}), ("DBPut", {"Family": "a"})):
            assert c.action(name, name, **fields)["Message"] == "Permission denied", name
        r = c.action("Originate", "o", Channel="Local/200@demo", Application="System", Data="true")
        assert r["Message"] == "Originate Access Forbidden: app or data blacklisted"
        assert c.action("QueueStatus", "q")["EventList"] == "start"


def test_sync_originate_waits_for_answer_or_fails() -> None:
    with start(time_scale=20) as pbx, RawAMI(pbx.host, pbx.port) as c:
        c.login(events="off")
        ok = c.action("Originate", "ok", Channel="Local/200@demo", Application="Wait", Data="1")
        assert (ok["Response"], ok["Message"]) == ("Success", "Originate successfully queued")
        bad = c.action("Originate", "bad", Channel="Local/400@demo", Application="Wait", Data="1")
        assert (bad["Response"], bad["Message"]) == ("Error", "Originate failed")


def test_many_clients_get_the_same_events() -> None:
    with start(seed=2, time_scale=1000) as pbx:
        clients = [RawAMI(pbx.host, pbx.port) for _ in range(20)]
        try:
            for c in clients:
                c.login(events="on")
                c.read_until(lambda c=c: len(c.events()) >= 2)
                c.messages.clear()
            lid = pbx.call("queue", talk=5)
            for c in clients:
                c.wait_event(lambda m: m.get("EventName") == "LINKEDID_END" and m.get("LinkedID") == lid, 10)
            clients[0].drain(0.3)  # after this quiet time every client's events are in its socket
            for c in clients[1:]:
                c.drain(0.02)
            # a later client's SuccessfulAuth reaches the earlier ones too (as on Asterisk: recordings 41, 43)
            seqs = [[m.pairs() for m in c.events() if m.event != "SuccessfulAuth"] for c in clients]
            assert len(seqs[0]) > 30
            assert all(s == seqs[0] for s in seqs)
        finally:
            for c in clients:
                c.close()


class _Counter(threading.Thread):
    """Reads a socket as fast as it can and counts messages (blank-line ends), without parsing."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(daemon=True)
        self.sock, self.count, self.eof = sock, 0, False

    def run(self) -> None:
        tail = b""
        self.sock.settimeout(30)
        try:
            while True:
                data = self.sock.recv(1 << 20)
                if not data:
                    break
                buf = tail + data
                self.count += buf.count(b"\r\n\r\n") - tail.count(b"\r\n\r\n")
                tail = buf[-3:]
        except OSError:
            pass
        self.eof = True


def test_slow_client_is_disconnected_while_others_keep_receiving() -> None:
    with start(seed=3, time_scale=3600, timestampevents=True, max_client_buffer=256 * 1024) as pbx:
        slow = socket.socket()
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.connect((pbx.host, pbx.port))
        slow.sendall(b"Action: Login\r\nUsername: admin\r\nSecret: amp111\r\n\r\n")
        fast = socket.create_connection((pbx.host, pbx.port))
        fast.sendall(b"Action: Login\r\nUsername: admin\r\nSecret: amp111\r\n\r\n")
        reader = _Counter(fast)
        reader.start()
        deadline = time.monotonic() + 5
        while pbx.sessions < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.1)
        pbx.simulate(3600, rate=2000)
        expected = pbx.events_emitted + 3  # + login response, FullyBooted, SuccessfulAuth
        deadline = time.monotonic() + 10
        while reader.count < expected and time.monotonic() < deadline:
            time.sleep(0.02)
        assert pbx.events_emitted > 20_000
        assert reader.count == expected
        assert pbx.sessions == 1  # the slow one was dropped
        slow.close()
        fast.close()


def _collect(pbx: SimPBX, seconds: float, rate: float) -> tuple[list[Message], object]:
    with RawAMI(pbx.host, pbx.port) as c:
        c.login(events="on")
        c.read_until(lambda: len(c.events()) >= 2)
        c.messages.clear()
        truth = pbx.simulate(seconds, rate=rate)
        c.drain(0.3, 10)
        return c.events(), truth


def test_same_seed_same_calls_and_events() -> None:
    runs = []
    for seed in (11, 11, 12):
        with start(seed=seed, time_scale=math.inf, timestampevents=True, start_time=1_800_000_000) as pbx:
            runs.append(_collect(pbx, 1800, 200))
    (ev_a, gt_a), (ev_b, gt_b), (ev_c, _) = runs
    assert len(ev_a) > 1000
    assert [m.pairs() for m in ev_a] == [m.pairs() for m in ev_b]
    assert gt_a.equals(gt_b)
    assert [m.pairs() for m in ev_a] != [m.pairs() for m in ev_c]


def test_ground_truth_agrees_with_the_events() -> None:
    with start(seed=21, time_scale=math.inf, timestampevents=True, start_time=1_800_000_000) as pbx:
        events, truth = _collect(pbx, 3600, 150)
    assert list(truth.columns)[:12] == ["linkedid", "caller", "callee", "scenario", "start", "answer", "end",
                                        "queue", "agent", "transferred", "disposition", "hangup_cause"]

    def count(name: str, *keys: str) -> Counter:
        return Counter(tuple(m[k] for k in keys) for m in events if m.event == name)

    # pairs an analyst relies on: every channel ends, every dial ends, every bridge is left and destroyed
    assert count("Newchannel", "Uniqueid") == count("Hangup", "Uniqueid")
    assert count("DialBegin", "DestUniqueid") == count("DialEnd", "DestUniqueid")
    assert count("BridgeEnter", "BridgeUniqueid", "Uniqueid") == count("BridgeLeave", "BridgeUniqueid", "Uniqueid")
    assert count("BridgeCreate", "BridgeUniqueid") == count("BridgeDestroy", "BridgeUniqueid")
    assert max(count("Newchannel", "Uniqueid").values()) == 1
    by_call: dict[str, list[Message]] = {}
    uid_call = {m["Uniqueid"]: m["Linkedid"] for m in events if m.event == "Newchannel"}
    for m in events:
        lid = (m.get("Linkedid") or m.get("LinkedID") or m.get("TransfereeLinkedid")
               or uid_call.get(m.get("UniqueID", "")))
        if lid:
            by_call.setdefault(lid, []).append(m)
    assert set(truth["linkedid"]) == set(uid_call.values())
    assert len(truth) > 50 and set(truth["disposition"]) >= {"answered", "abandoned", "busy", "no answer"}
    for row in truth.itertuples():
        evs = by_call[row.linkedid]
        names = Counter(m.event for m in evs)
        first = min(float(m["Timestamp"]) for m in evs if m.event == "Newchannel")
        last = max(float(m["Timestamp"]) for m in evs if m.event == "Hangup")
        assert abs(row.start.timestamp() - first) < 1e-3
        assert abs(row.end.timestamp() - last) < 1e-3
        assert names["Newchannel"] == names["Hangup"]
        assert row.hangup_cause in {int(m["Cause"]) for m in evs if m.event == "Hangup"}
        assert (row.disposition == "answered") == (names["BridgeEnter"] > 0), row
        timed_out = any(m.event == "VarSet" and m.get("Variable") == "QUEUESTATUS" for m in evs)
        # a timeout sends QueueCallerAbandon too; QUEUESTATUS=TIMEOUT tells it apart (recording 42)
        assert (row.disposition == "abandoned") == (names["QueueCallerAbandon"] == 1 and not timed_out)
        assert bool(row.transferred) == (names["BlindTransfer"] == 1)
        assert (row.queue == "support") == (names["QueueCallerJoin"] == 1)
        if row.disposition == "busy":
            assert any(m.get("DialStatus") == "BUSY" for m in evs if m.event == "DialEnd")
        if row.agent is not None and row.agent == row.agent:
            assert any(m.get("MemberName") == row.agent for m in evs if m.event == "AgentConnect")
        if row.disposition == "answered":
            assert row.answer <= row.end


@pytest.mark.parametrize("user,secret", [("admin", "amp111"), ("limited", "lim123")])
def test_flood_count_is_exact(user: str, secret: str) -> None:
    n = 60_000
    with start(seed=4) as pbx, RawAMI(pbx.host, pbx.port) as c:
        c.login(user, secret, events="on")
        c.read_until(lambda: len(c.events()) >= (2 if user == "admin" else 0), 1)
        c.messages.clear()
        fut = pbx.flood(n, wait=False)
        c.wait_event(lambda m: m.event == "SimFloodComplete", 30)
        assert fut.result(10) == n
        events = c.events()
    done = events.pop()
    assert done.event == "SimFloodComplete" and done["Count"] == str(n)
    assert len(events) == n
    names = Counter(m.event for m in events)
    assert {"Newchannel", "Hangup", "DialBegin", "BridgeEnter"} <= set(names)
    if user == "limited":
        assert all("call" in m["Privilege"] for m in events)


def test_simflood_action() -> None:
    with start(seed=4) as pbx, RawAMI(pbx.host, pbx.port) as c:
        c.login(events="call")
        r = c.action("SimFlood", "f", Count="5000")
        assert r["Response"] == "Success"
        c.wait_event(lambda m: m.event == "SimFloodComplete", 30)
        assert len([m for m in c.events() if m.event != "SimFloodComplete"]) == 5000


def test_replay_serves_the_recorded_events() -> None:
    path = FIX / "19_originate_async_100.txt"
    recorded = load_events(path)
    with start_replay(path) as srv, RawAMI(srv.host, srv.port) as c:
        assert c.login()["Message"] == "Authentication accepted"
        c.read_until(lambda: len(c.events()) >= len(recorded))
        assert [m.pairs() for m in c.events()] == [m.pairs() for m in recorded]
        assert c.action("Ping", "p")["Ping"] == "Pong"


def test_cli_help_and_flood_subprocess() -> None:
    out = subprocess.run([sys.executable, "-m", "ami_nb.sim", "--help"], capture_output=True, text=True,
                         timeout=30, check=True).stdout
    for word in ("amp111", "lim123", "--seed", "--rate", "--flood", "--replay", "--time-scale"):
        assert word in out
    proc = subprocess.Popen([sys.executable, "-m", "ami_nb.sim", "--port", "0", "--print-port", "--flood", "3000",
                             "--exit-after-flood"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        with RawAMI("127.0.0.1", port, timeout=10) as c:
            c.login()
            c.wait_event(lambda m: m.event == "SimFloodComplete", 30)
            events = [m.event for m in c.events()]
            flood = events[events.index("SuccessfulAuth") + 1:events.index("SimFloodComplete")]
            assert len(flood) == 3000
        assert proc.wait(20) == 0
        assert "sent 3000 events" in proc.stdout.read()
    finally:
        proc.kill()
        proc.wait(5)


def test_parser_reads_sim_bytes_split_anywhere() -> None:
    """The simulator's output is well-framed AMI: the parser gets the same messages from any split."""
    with start(seed=6, time_scale=1000) as pbx:
        s = socket.create_connection((pbx.host, pbx.port))
        s.sendall(b"action: login\nusername: admin\nsecret: amp111\n\n")
        pbx.call("answered", talk=1)
        data = b""
        s.settimeout(5)
        while b"LINKEDID_END" not in data:
            data += s.recv(65536)
        s.close()
    whole = Parser().feed(data)
    step = Parser()
    pieces = [data[i:i + 7] for i in range(0, len(data), 7)]
    assert [m.pairs() for p in pieces for m in step.feed(p)] == [m.pairs() for m in whole]


def _long_call(c: RawAMI) -> str:
    """Originate a long call (Local/long@demo, Wait(60) on ;2); returns the ;2 channel name."""
    c.action("Originate", "long", Channel="Local/long@demo", Application="Wait", Data="50")
    new = c.wait_event(lambda m: m.event == "Newchannel" and m["Channel"].startswith("Local/long@demo")
                       and m["Channel"].endswith(";2"))
    return new["Channel"]


def test_redirect_moves_the_channel_and_stops_its_old_dialplan() -> None:
    with start(seed=8, time_scale=50) as pbx, RawAMI(pbx.host, pbx.port) as c:
        c.login(events="on")
        two = _long_call(c)
        c.wait_event(lambda m: m.event == "Newexten" and m["Channel"] == two and m["Application"] == "Wait")
        r = c.action("Redirect", "r", Channel=two, Context="demo", Exten="sink", Priority="1")
        assert r["Message"] == "Redirect successful"
        gone = c.wait_event(lambda m: m.event == "Hangup" and m["Channel"] == two, 5)
        assert gone["Exten"] in ("sink", "h")
        apps = [m["Application"] for m in c.events("Newexten") if m["Channel"] == two]
        assert apps[-4:] == ["Answer", "Wait", "Hangup", "NoOp"]  # sink's priorities, then the h extension
        assert c.action("Redirect", "r2", Channel="Local/nosuch-1;1", Exten="sink")["Response"] == "Error"


def test_channel_variables_and_hangup_by_name() -> None:
    with start(seed=9, time_scale=20) as pbx, RawAMI(pbx.host, pbx.port) as c:
        c.login(events="on")
        two = _long_call(c)
        assert c.action("Setvar", "s", Channel=two, Variable="MYVAR", Value="42")["Message"] == "Variable Set"
        assert c.wait_event(lambda m: m.event == "VarSet" and m["Variable"] == "MYVAR")["Value"] == "42"
        assert c.action("Getvar", "g", Channel=two, Variable="MYVAR")["Value"] == "42"
        assert c.action("Getvar", "g2", Channel=two, Variable="CHANNEL(state)")["Value"] == "Up"
        assert c.action("Hangup", "h", Channel=two, Cause="16")["Message"] == "Channel Hungup"
        c.wait_event(lambda m: m.event == "Hangup" and m["Channel"] == two)
        one = two[:-1] + "1"
        c.wait_event(lambda m: m.event == "Hangup" and m["Channel"] == one)
        assert c.action("Getvar", "g3", Channel=two, Variable="MYVAR")["Message"] == "No such channel"


def test_queue_statistics_follow_the_traffic() -> None:
    with start(seed=10, time_scale=math.inf, timestampevents=True) as pbx, RawAMI(pbx.host, pbx.port) as c:
        c.login(events="off")
        truth = pbx.simulate(3600, rate=300, mix={"queue": 3, "abandon": 1}, agents=4)
        c.send("QueueStatus", "qs", Queue="support")
        c.read_until(lambda: any(m.event == "QueueStatusComplete" for m in c.messages))
        params = next(m for m in c.messages if m.event == "QueueParams")
        members = [m for m in c.messages if m.event == "QueueMember"]
        c.messages.clear()
        out = c.action("Command", "cmd", Command="queue show")
    answered = truth[(truth.queue == "support") & (truth.disposition == "answered")]  # abandon callers too
    assert set(answered["scenario"]) == {"queue", "abandon"}
    assert int(params["Completed"]) == len(answered) > 0
    # app_queue counts a timeout as abandoned too (QUEUEABANDONED went up at 42's timeout)
    assert int(params["Abandoned"]) == int(truth.disposition.isin(["abandoned", "no answer"]).sum()) > 0
    assert len(members) == 4
    assert sum(int(m["CallsTaken"]) for m in members) == len(answered)
    assert set(answered["agent"]) <= {m["Name"] for m in members}
    assert out.getall("Output")[0].startswith("support has 0 calls")


def test_background_traffic_starts_and_stops() -> None:
    with start(seed=12, time_scale=3600, timestampevents=True) as pbx, RawAMI(pbx.host, pbx.port) as c:
        c.login(events="call")
        pbx.start_traffic(rate=3600, mix={"answered": 1}, talk_mean=30)
        c.read_until(lambda: len(c.events("Hangup")) >= 10, 10)
        pbx.stop_traffic()
        deadline = time.monotonic() + 10
        while pbx.active_calls and time.monotonic() < deadline:
            time.sleep(0.01)
        assert pbx.active_calls == 0
        started = len(pbx.ground_truth())
        c.drain(0.3)
        assert len(pbx.ground_truth()) == started >= 5
        assert {m["Channel"].split("/")[0] for m in c.events("Newchannel")} == {"PJSIP"}


def test_stop_sends_shutdown_then_closes() -> None:
    pbx = start()
    with RawAMI(pbx.host, pbx.port) as c:
        c.login(events="on")
        pbx.stop()
        assert c.read_until(lambda: c.eof, 5)
        assert c.events()[-1].event == "Shutdown"


def test_an_action_registered_from_another_module_is_served_with_its_permission() -> None:
    """The registry is the one place a handler and its write classes meet: a module outside the simulator
    registers an action, and the server answers it (and refuses it to a user without the class)."""
    from ami_nb.sim import registry

    @registry.action("SimTestEcho", privilege="system")
    async def echo(server: registry.ServerView, conn: object, msg: Message) -> bool:
        conn.respond(msg, "Success", ("Echo", msg.get("Text", "")))  # type: ignore[attr-defined]
        return True

    try:
        with start() as pbx, RawAMI(pbx.host, pbx.port) as a, RawAMI(pbx.host, pbx.port) as lim:
            a.login(events="off")
            lim.login("limited", "lim123", events="off")
            assert a.action("SimTestEcho", "e", Text="hi")["Echo"] == "hi"
            assert lim.action("SimTestEcho", "e", Text="hi")["Message"] == "Permission denied"
        with pytest.raises(ValueError, match="registered twice"):
            registry.action("simtestecho", privilege="system")(echo)
        with pytest.raises(ValueError, match="not in the recorded ListCommands"):
            registry.action("SimTestNoPrivilege")(echo)
        # an Asterisk action takes the write classes the recorded ListCommands gives it
        assert registry.lookup("Originate").privilege == frozenset({"originate"})  # type: ignore[union-attr]
        assert registry.lookup("QueueAdd").privilege == frozenset({"agent"})  # type: ignore[union-attr]
    finally:
        registry.HANDLERS.pop("simtestecho", None)


def test_simulator_modules_import_one_way() -> None:
    """No import cycle inside ami_nb.sim (also none hidden inside functions), and only the package's entry
    points import the server."""
    import ast

    pkg = Path(__file__).parent.parent / "ami_nb" / "sim"
    graph: dict[str, set[str]] = {}
    for path in pkg.glob("*.py"):
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                deps.update([node.module] if node.module else [a.name for a in node.names])
        graph[path.stem] = deps

    def reach(start: str) -> set[str]:
        seen: set[str] = set()
        todo = [start]
        while todo:
            for d in graph.get(todo.pop(), ()):
                if d not in seen:
                    seen.add(d)
                    todo.append(d)
        return seen

    assert {"server", "actions", "registry", "connection", "wire", "access"} <= set(graph)
    for mod in graph:
        assert mod not in reach(mod), f"import cycle through ami_nb.sim.{mod}"
    assert {m for m in graph if "server" in graph[m]} == {"__init__", "__main__"}
    assert "__init__" not in set().union(*graph.values())


FORBIDDEN = "Originate Access Forbidden: app or data blacklisted"  # recording 20, manager.c


def test_originate_permission_table_is_manager_c_s() -> None:
    """The cases of manager.c's own unit test (originate_permissions_test, Asterisk 22.10.1)."""
    from ami_nb.sim.access import ALL_CLASSES, originate_permitted

    system, agi, none = frozenset({"system"}), frozenset({"agi"}), frozenset()
    assert originate_permitted("exec", "", system)
    assert originate_permitted("exec", "", system | agi)
    assert originate_permitted("exec", "", ALL_CLASSES)
    assert not originate_permitted("exec", "", agi)
    assert not originate_permitted("exec", "", frozenset({"verbose"}))
    assert not originate_permitted("exec", "", none)
    assert originate_permitted("queue", "", none)  # no AGI argument: always allowed
    no_agi = "somequeue,CcdHh,someURL,tt-monkeys,100,,gosub,rule,666"
    with_agi = "somequeue,CcdHh,someURL,tt-monkeys,100,SomeAGIScript,gosub,rule,666"
    assert originate_permitted("queue", no_agi, frozenset({"originate"}))
    for perm in (system, agi, ALL_CLASSES):
        assert originate_permitted("queue", with_agi, perm)
    for perm in (none, frozenset({"originate"})):
        assert not originate_permitted("queue", with_agi, perm)
    assert originate_permitted("someapp", "aaaDBbbb", system)
    assert originate_permitted("someapp", "aaa DB bbb", ALL_CLASSES)
    assert not originate_permitted("someapp", "aaaDBbbb", none)
    assert not originate_permitted("someapp", "aaa DB bbb", none)
    assert originate_permitted("someapp", "aaa db bbb", none)  # the data check is case-sensitive


def test_limited_user_may_not_originate_what_asterisk_refuses() -> None:
    """write=originate without system: the applications and functions manager.c refuses, over a socket."""
    refused = [
        ("System", "true"),  # recording 20
        ("ExternalIVR", "ivr.sh"),
        ("ExecIf", "$[1]?Wait(1)"),  # strcasestr: "exec" anywhere in the name
        ("TrySystem", "id"),
        ("EAGI", "agi.sh"),
        ("MixMonitor", "x.wav"),
        ("Originate", "Local/1@demo,exten,demo,1"),
        ("Wait", "${SHELL(id)}"),  # data: the function anywhere in it
        ("Verbose", "${EVAL(x)}"),
        ("Playback", "${DB(family/key)}"),
        ("Queue", "support,t,,,30,agi://evil"),  # Queue with its AGI argument
    ]
    allowed = [("Wait", "1"), ("Queue", "support,t"), ("Verbose", "${db(x)}")]  # recording 20: Wait
    with start() as pbx, RawAMI(pbx.host, pbx.port) as lim, RawAMI(pbx.host, pbx.port) as adm:
        lim.login("limited", "lim123", events="off")
        adm.login(events="off")
        for i, (app, data) in enumerate(refused):
            r = lim.action("Originate", f"r{i}", Channel="Local/200@demo", Application=app, Data=data, Async="true")
            assert (r["Response"], r["Message"]) == ("Error", FORBIDDEN), (app, data)
        for i, (app, data) in enumerate(allowed):
            r = lim.action("Originate", f"a{i}", Channel="Local/200@demo", Application=app, Data=data, Async="true")
            assert r["Message"] == "Originate successfully queued", (app, data)
        r = adm.action("Originate", "adm", Channel="Local/200@demo", Application="ExecIf", Data="$[1]?Wait(1)",
                       Async="true")
        assert r["Message"] == "Originate successfully queued"  # the system class may


def test_originate_and_redirect_validate_as_manager_c_does() -> None:
    with start() as pbx, RawAMI(pbx.host, pbx.port) as c:
        c.login(events="off")
        base = {"Channel": "Local/200@demo", "Context": "demo", "Exten": "sink", "Async": "true"}
        for fields, message in (
            ({"Priority": "x"}, "Invalid priority"),
            ({"Timeout": "soon"}, "Invalid timeout"),
            ({"Channel": "nochanneltech"}, "Invalid channel"),
            ({"Channel": ""}, "Channel not specified"),
            ({"ChannelId": "u" * 150}, "Uniqueid length exceeds maximum of 149\n"),
        ):
            r = c.action("Originate", "o", **{**base, **fields})
            assert (r["Response"], r["Message"]) == ("Error", message), fields
        # sscanf("%30d") reads the leading number: " 1" and "1st" are priority 1
        assert c.action("Originate", "o", **base, Priority=" 1")["Message"] == "Originate successfully queued"
        assert c.action("Originate", "o", **base, Priority="1st")["Message"] == "Originate successfully queued"
        ok = {"Channel": "Local/200@demo-1;1", "Context": "demo", "Exten": "sink", "Priority": "1"}
        for drop, message in (("Channel", "Channel not specified"), ("Context", "Context not specified"),
                              ("Exten", "Exten not specified"), ("Priority", "Priority not specified")):
            r = c.action("Redirect", "r", **{k: v for k, v in ok.items() if k != drop})
            assert r["Message"] == message
        assert c.action("Redirect", "r", **{**ok, "Priority": "first"})["Message"] == "Priority is invalid"
        assert c.action("Redirect", "r", **ok)["Message"] == "Channel does not exist: Local/200@demo-1;1"
        # Hangup: ast_manager_hangup_helper's messages
        for channel, message in (("", "No channel specified"), ("/Local", "Regex format invalid, Channel param "
                                 "should be /regex/"), ("/", "Regex format invalid, Channel param should be /regex/"),
                                 ("/(/", "Regex compile failed on: /(/"), ("Local/none-1;1", "No such channel")):
            assert c.action("Hangup", "h", Channel=channel)["Message"] == message, channel

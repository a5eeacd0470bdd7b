"""The asyncio client against a scripted AMI server over real loopback sockets."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import os
import shutil
import socket
import ssl
import subprocess
from pathlib import Path
from typing import Any

import pytest
from scripted_server import STALL, ScriptedServer

from ami_nb.client import AMIClient
from ami_nb.errors import (
    ActionError,
    AMIConnectionError,
    AMITimeoutError,
    AuthenticationError,
    InvalidActionError,
    ProtocolError,
)
from ami_nb.protocol import Config, Message
from ami_nb.response import CommandOutput, Response, shape_result

SECRET = "amp111"


def make_client(srv: ScriptedServer, **kw: Any) -> AMIClient:
    opts: dict[str, Any] = {
        "username": "admin",
        "secret": SECRET,
        "timeout": 3.0,
        "keepalive": None,
        "backoff": (0.05, 0.2),
    }
    opts.update(kw)
    return AMIClient(srv.host, srv.port, **opts)


async def until(pred: Any, timeout: float = 5.0, what: str = "condition") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not pred():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.01)


# -- login ----------------------------------------------------------------------------------------------------
def test_plain_login(ami_server: ScriptedServer, run: Any) -> None:
    async def main() -> None:
        async with make_client(ami_server, auth="plain", events="off") as c:
            assert c.state == "connected" and c.auth_used == "plain"
            assert c.version == "11.0.0"
            assert (await c.action("Ping"))["Ping"] == "Pong"

    run(main())
    login = ami_server.actions("Login")[0]
    assert login["Secret"] == SECRET and login["Events"] == "off" and "Key" not in login
    assert ami_server.actions("Challenge") == []
    assert ami_server.actions("Logoff"), "close() logs off"


def test_md5_login_never_sends_the_secret(ami_server: ScriptedServer, run: Any) -> None:
    async def main() -> None:
        async with make_client(ami_server) as c:  # auth="auto" tries MD5 first
            assert c.auth_used == "md5"

    run(main())
    chal = ami_server.actions("Challenge")[0]
    assert chal["AuthType"] == "MD5"
    login = ami_server.actions("Login")[0]
    assert "Secret" not in login and login["AuthType"] == "MD5"
    assert login["Key"] == hashlib.md5((ami_server.challenges[0] + SECRET).encode()).hexdigest()
    assert all(SECRET not in str(m.pairs()) for _, m in ami_server.received)


def test_auto_falls_back_to_plain_and_md5_mode_requires_it(run: Any) -> None:
    with ScriptedServer(md5=False) as srv:

        async def main() -> None:
            async with make_client(srv) as c:
                assert c.auth_used == "plain"
            with pytest.raises(AuthenticationError, match="MD5"):
                await make_client(srv, auth="md5").connect()

        run(main())
    assert srv.logins == 1


def test_wrong_secret_is_refused_and_never_shown(ami_server: ScriptedServer, run: Any, caplog: Any) -> None:
    caplog.set_level(logging.DEBUG, logger="ami_nb")
    bad = "s3cr3t-Wr0ng"
    c = make_client(ami_server, secret=bad, auth="plain")

    async def main() -> None:
        with pytest.raises(AuthenticationError) as ei:
            await c.connect()
        text = str(ei.value)
        assert "authentication failed for user 'admin'" in text and "Authentication failed" in text
        assert bad not in text and bad not in repr(ei.value)
        assert c.state == "closed"

    run(main())
    assert ami_server.login_failures == 1
    assert bad not in repr(c) and bad not in caplog.text


def test_no_banner_times_out_naming_it(run: Any) -> None:
    with ScriptedServer(banner=None) as srv, pytest.raises(AMITimeoutError, match=r"no AMI banner .* within 0.3 s"):
        run(make_client(srv, timeout=0.3).connect())


def test_a_non_ami_banner_is_a_protocol_error(run: Any) -> None:
    with ScriptedServer(banner="SSH-2.0-OpenSSH_9.2") as srv, pytest.raises(ProtocolError, match="not an AMI server"):
        run(make_client(srv).connect())


def test_closed_before_banner_and_refused_connection(run: Any) -> None:
    with ScriptedServer() as srv:
        srv.refuse = True
        with pytest.raises(AMIConnectionError, match="before its banner"):
            run(make_client(srv).connect())
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(AMIConnectionError, match="cannot connect"):
        run(AMIClient("127.0.0.1", port, username="admin", secret=SECRET, keepalive=None).connect())


def test_login_stalled_times_out(run: Any) -> None:
    with ScriptedServer() as srv:
        srv.reply("Login", STALL)
        with pytest.raises(AMITimeoutError, match="Login"):
            run(make_client(srv, timeout=0.3, auth="plain").connect())


# -- actions ----------------------------------------------------------------------------------------------------
def test_action_timeout_names_action_and_seconds(ami_server: ScriptedServer, run: Any) -> None:
    ami_server.reply("SlowThing", STALL)

    async def main() -> None:
        async with make_client(ami_server) as c:
            with pytest.raises(AMITimeoutError, match=r"SlowThing .*within 0.2 s"):
                await c.action("SlowThing", timeout=0.2)
            assert c._waiters == {} and c._corr.waiting == {}
            assert (await c.action("Ping"))["Ping"] == "Pong"  # the connection is still usable

    run(main())


def test_list_actions_are_collected_whole(ami_server: ScriptedServer, run: Any) -> None:
    for name in ("15_coreshowchannels", "16_status", "17_queuestatus"):
        ami_server.replay(name)
    seen: list[Message] = []

    async def main() -> None:
        async with make_client(ami_server) as c:
            c.on("CoreShowChannel", seen.append)
            r = await c.action("CoreShowChannels")
            assert isinstance(r, Response) and r.ok and r.is_list
            assert r.complete is not None and r.complete.event == "CoreShowChannelsComplete"
            assert len(r.list_items) == int(r.complete["ListItems"]) == 16
            assert all(e.event == "CoreShowChannel" for e in r.list_items)
            assert r.list_items[0].getall("ChanVariable") == ["DEMOVAR=long0", "CHANNEL(language)=en"]
            frame = r.to_frame()
            assert len(frame) == 16 and "Channel" in frame.columns
            assert frame["Uniqueid"].iloc[0] == "1795680631.0"  # an identifier stays a string
            assert len(seen) == 16, "list items are events too: listeners see them"

            q = await c.action("QueueStatus")
            assert q.complete["EventList"] == "Complete"
            assert len(q.list_items) == int(q.complete["ListItems"]) > 0
            assert {e.event for e in q.list_items} >= {"QueueParams", "QueueMember"}
            empty = await c.action("QueueStatus", Queue="nosuchqueue")
            assert empty.list_items == [] and empty.complete["ListItems"] == "0"

            st = await c.action("Status")
            assert len(st.list_items) == int(st.complete["Items"]) == 16
            one = await c.action("Status", Channel="Local/long@demo-00000000;2", AllVariables="true")
            assert len(one.list_items) == 1 and one.list_items[0].getall("Variable")
            with pytest.raises(ActionError) as ei:
                await c.action("Status", Channel="Local/nosuch@demo-00000000;1")
            assert ei.value.message == "No such channel" and ei.value.action == "Status"

    run(main())


def test_command_output_as_lines(ami_server: ScriptedServer, run: Any) -> None:
    ami_server.replay("09_command_core_show_version")
    ami_server.replay("12_command_errors")

    async def main() -> None:
        async with make_client(ami_server) as c:
            out = await c.action("Command", Command="core show version")
            assert isinstance(out, CommandOutput) and out[0].startswith("Asterisk 22.10.1 built by")
            assert out.response is not None and out.response["Message"] == "Command output follows"
            up = await c.action("Command", Command="core show uptime")
            assert up == ["System uptime: 17 seconds", "Last reload: 17 seconds"]
            helped = await c.action("Command", Command="core show help manager")
            assert len(helped) == 12 and str(helped).count("\n") == 11
            with pytest.raises(ActionError) as ei:
                await c.action("Command", Command="no such cli command")
            assert ei.value.response.getall("Output")[0].startswith("No such command 'no such cli command'")
            with pytest.raises(ActionError, match="Command blacklisted"):
                await c.action("Command", Command="module load app_foo.so")

    run(main())


def test_getconfig_combined_and_json(ami_server: ScriptedServer, run: Any) -> None:
    ami_server.replay("13_getconfig_extensions")
    ami_server.replay("14_getconfigjson_extensions")

    async def main() -> None:
        async with make_client(ami_server) as c:
            cfg = await c.action("GetConfig", Filename="extensions.conf")
            assert isinstance(cfg, Config) and list(cfg)[:3] == ["general", "globals", "demo"]
            assert ("static", "yes") in cfg["general"]
            assert cfg["demo"][0] == ("exten", "100,1,NoOp(Demo call to 100 from ${CALLERID(all)})")
            assert cfg.response.ok
            agents = await c.action("GetConfig", Filename="extensions.conf", Category="agents")
            assert list(agents) == ["agents"]
            with pytest.raises(ActionError, match="Config file not found"):
                await c.action("GetConfig", Filename="nonexistent.conf")
            js = await c.action("GetConfigJSON", Filename="extensions.conf")
            assert isinstance(js, Config) and "demo" in js
            assert [k for k, _ in js["demo"]].count("same") > 1  # repeated JSON keys kept

    run(main())


def test_error_response_raises_action_error_with_server_message(ami_server: ScriptedServer, run: Any) -> None:
    async def main() -> None:
        async with make_client(ami_server) as c:
            with pytest.raises(ActionError) as ei:
                await c.action("NoSuchAction")
            assert ei.value.message.startswith("Invalid/unknown command: NoSuchAction.")
            assert isinstance(ei.value.response, Response) and not ei.value.response.ok
            with pytest.raises(InvalidActionError, match="line break"):
                await c.action("UserEvent", UserEvent="x", Header="a\r\nAction: Command")
            assert ami_server.actions("UserEvent") == []

    run(main())


def test_interleaved_unrelated_events_and_foreign_action_ids(ami_server: ScriptedServer, run: Any) -> None:
    def script(conn: Any, msg: Message) -> list:
        aid = msg["ActionID"]
        noise = {"Event": "Newstate", "Channel": "Local/x", "ActionID": "someone-else-1"}
        return [
            noise,
            {"Event": "PeerEntry", "ActionID": aid, "Peer": "too-early"},  # before the response: not ours yet
            {"Response": "Success", "EventList": "start", "Message": "Peers will follow"},
            {"Event": "PeerEntry", "ActionID": aid, "Peer": "a"},
            0.05,
            noise,
            {"Event": "PeerEntry", "ActionID": "other-session-7", "Peer": "foreign"},
            {"Event": "PeerEntry", "ActionID": aid, "Peer": "b"},
            {"Event": "PeerlistComplete", "ActionID": aid, "EventList": "Complete", "ListItems": "2"},
            noise,
        ]

    ami_server.reply("SIPpeers", script)
    events: list[Message] = []

    async def main() -> None:
        async with make_client(ami_server) as c:
            c.on("*", events.append)
            r = await c.action("SIPpeers")
            assert [e["Peer"] for e in r.list_items] == ["a", "b"]
            await until(lambda: sum(e.event == "Newstate" for e in events) == 3, what="trailing noise")

    run(main())
    assert [e["Peer"] for e in events if e.event == "PeerEntry"] == ["too-early", "a", "foreign", "b"]


def test_legacy_list_without_eventlist_headers(ami_server: ScriptedServer, run: Any) -> None:
    ami_server.reply(
        "Agents",
        [
            {"Response": "Success", "Message": "Agents will follow"},
            {"Event": "Agents", "Agent": "1001"},
            {"Event": "Agents", "Agent": "1002"},
            {"Event": "AgentsComplete"},
        ],
    )

    async def main() -> None:
        async with make_client(ami_server) as c:
            r = await c.action("Agents")
            assert [e["Agent"] for e in r.list_items] == ["1001", "1002"]
            assert r.complete.event == "AgentsComplete"

    run(main())


def test_async_originate_outcome(ami_server: ScriptedServer, run: Any) -> None:
    ami_server.replay("19_originate_async_100")
    seen: list[Message] = []

    async def main() -> None:
        async with make_client(ami_server) as c:
            c.on("OriginateResponse", seen.append)
            r = await c.action(
                "Originate", Channel="Local/100@demo", Context="demo", Exten="sink", Priority=1, Async=True,
                Variable=["DEMOVAR=originated", "CDR(userfield)=orig-100"],
            )
            assert r["Message"] == "Originate successfully queued"
            out = await r.outcome(timeout=5)
            assert out.event == "OriginateResponse" and out["Response"] == "Success" and out["Reason"] == "4"
            assert out["ActionID"] == r.action_id
            again = await c.originate_result(r.action_id, timeout=1)  # already arrived: still reachable
            assert again is out
            ami_server.push_event({"Event": "OriginateResponse", "ActionID": "_driver-21", "Response": "Failure"})
            await until(lambda: len(seen) == 2, what="the foreign OriginateResponse")
            with pytest.raises(AMITimeoutError, match="OriginateResponse"):
                await c.originate_result("_driver-22", timeout=0.1)

    run(main())
    sent = ami_server.actions("Originate")[0]
    assert sent.getall("Variable") == ["DEMOVAR=originated", "CDR(userfield)=orig-100"]
    assert sent["Async"] == "true"


# -- listeners ----------------------------------------------------------------------------------------------
def test_listeners_exact_wildcard_and_off(ami_server: ScriptedServer, run: Any) -> None:
    got: dict[str, list[str]] = {"exact": [], "peer": [], "all": [], "async": []}

    async def async_cb(e: Message) -> None:
        await asyncio.sleep(0)
        got["async"].append(e.event)

    async def main() -> None:
        async with make_client(ami_server) as c:
            c.on("hangup", lambda e: got["exact"].append(e.event))
            peer_cb = c.on("Peer*", lambda e: got["peer"].append(e.event))
            c.on("*", lambda e: got["all"].append(e.event))
            c.on("Hangup", async_cb)
            for name in ("Hangup", "PeerStatus", "Newchannel", "peerlistcomplete"):
                ami_server.push_event({"Event": name})
            await until(lambda: len(got["all"]) == 4, what="4 events")
            await until(lambda: len(got["async"]) == 1, what="async callback")
            assert c.off("Peer*", peer_cb) == 1
            assert c.off(callback=async_cb) == 1
            ami_server.push_event({"Event": "PeerStatus"})
            ami_server.push_event({"Event": "Hangup"})
            await until(lambda: len(got["all"]) == 6, what="2 more events")
            await asyncio.sleep(0.02)

    run(main())
    assert got["exact"] == ["Hangup", "Hangup"]
    assert got["peer"] == ["PeerStatus", "peerlistcomplete"]
    assert got["async"] == ["Hangup"]


def test_raising_callbacks_are_logged_and_isolated(ami_server: ScriptedServer, run: Any, caplog: Any) -> None:
    caplog.set_level(logging.ERROR, logger="ami_nb")
    good: list[str] = []

    def bad(e: Message) -> None:
        raise RuntimeError("callback boom")

    async def bad_async(e: Message) -> None:
        raise ValueError("async boom")

    async def main() -> AMIClient:
        c = make_client(ami_server)
        async with c:
            c.on("*", bad)
            c.on("*", bad_async)
            c.on("*", lambda e: good.append(e["N"]))
            for n in range(3):
                ami_server.push_event({"Event": "Tick", "N": n})
            await until(lambda: len(good) == 3, what="3 ticks")
            await until(lambda: c.stats["callback_errors"] == 6, what="6 logged errors")
            assert (await c.action("Ping")).ok
        return c

    c = run(main())
    assert good == ["0", "1", "2"]
    assert "callback boom" in caplog.text and "async boom" in caplog.text
    assert c.stats["events_received"] == 3


def test_batch_sinks_run_before_listeners_and_raw_taps_see_bytes(ami_server: ScriptedServer, run: Any) -> None:
    order: list[Any] = []
    raw = bytearray()

    async def main() -> None:
        c = make_client(ami_server)
        c.add_raw_tap(raw.extend)
        c.add_batch_sink(lambda evs, t: order.append(("batch", [e["N"] for e in evs], type(t))))
        c.on("Tick", lambda e: order.append(("event", e["N"])))
        async with c:
            ami_server.push(b"".join(
                f"Event: Tick\r\nN: {n}\r\n\r\n".encode() for n in range(3)
            ))
            await until(lambda: len(order) == 4, what="sink and listeners")

    run(main())
    assert order == [("batch", ["0", "1", "2"], float), ("event", "0"), ("event", "1"), ("event", "2")]
    assert raw.startswith(b"Asterisk Call Manager/11.0.0\r\n") and b"Event: Tick\r\nN: 2\r\n\r\n" in raw


# -- ActionIDs and secrets --------------------------------------------------------------------------------------
def test_action_ids_unique_and_caller_ids_honoured(ami_server: ScriptedServer, run: Any) -> None:
    async def main() -> None:
        a, b = make_client(ami_server), make_client(ami_server)
        ids = {a.next_action_id() for _ in range(1000)} | {b.next_action_id() for _ in range(1000)}
        assert len(ids) == 2000
        assert f"-{os.getpid()}-" in a.next_action_id()
        async with a:
            await asyncio.gather(*(a.action("Ping") for _ in range(20)))
            r = await a.action("Ping", ActionID="my own id: 1")
            assert r.action_id == "my own id: 1" and r["ActionID"] == "my own id: 1"
            ami_server.reply("Stall", STALL)
            first = asyncio.ensure_future(a.action("Stall", ActionID="dup", timeout=0.5))
            await asyncio.sleep(0.05)
            with pytest.raises(InvalidActionError, match="already waiting"):
                await a.action("Ping", ActionID="dup")
            with pytest.raises(AMITimeoutError):
                await first

    run(main())
    pings = ami_server.actions("Ping")
    assert len(pings) == 21 and len({p["ActionID"] for p in pings}) == 21


def test_secret_absent_from_repr_logs_and_errors(ami_server: ScriptedServer, run: Any, caplog: Any) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "Very-Secret-42"
    srv_users = {"admin": secret}
    ami_server.users.update(srv_users)
    texts: list[str] = []

    async def main() -> None:
        c = make_client(ami_server, secret=secret, auth="plain")
        async with c:
            texts.append(repr(c))
            texts.append(repr(ami_server.actions("Login")[-1]))  # a Message repr masks Secret
            ami_server.drop()
            with pytest.raises(AMIError_) as ei:
                await c.action("Stall", timeout=0.2)
            texts.append(str(ei.value))
            await until(lambda: c.state == "connected" and c.stats["reconnects"] == 1, what="reconnect")
        texts.append(repr(c))

    AMIError_ = (AMIConnectionError, AMITimeoutError)
    ami_server.reply("Stall", STALL)
    run(main())
    assert all(secret not in t for t in texts), texts
    assert secret not in caplog.text
    assert "***" in texts[1]


# -- keepalive, reconnect, faults -------------------------------------------------------------------------------
def test_keepalive_detects_a_silent_peer(ami_server: ScriptedServer, run: Any, caplog: Any) -> None:
    caplog.set_level(logging.WARNING, logger="ami_nb")

    async def main() -> None:
        async with make_client(ami_server, keepalive=0.1, pong_timeout=0.5) as c:
            await until(lambda: len(ami_server.actions("Ping")) >= 1, what="a keepalive ping")
            assert c.stats["reconnects"] == 0
            ami_server.reply("Ping", STALL)  # the peer goes silent
            await until(lambda: c.stats["reconnects"] >= 1, what="reconnect after a missing pong")
            ami_server.handlers.pop("ping")
            await until(lambda: c.state == "connected", what="connected again")

    run(main())
    assert "no pong within 0.5 s" in caplog.text
    assert ami_server.connections_made >= 2


def test_drop_reconnects_relogs_reapplies_and_fails_pending(ami_server: ScriptedServer, run: Any) -> None:
    ami_server.reply("Stall", STALL)
    states: list[str] = []
    after: list[str] = []

    async def main() -> None:
        c = make_client(ami_server)
        c.on_state_change(states.append)
        c.on("Tick", lambda e: after.append(e["N"]))
        async with c:
            await c.action("Events", EventMask="call,user")
            await c.action("Filter", Operation="Add", Filter="Event: Tick")
            await c.action("Filter", Operation="Add", Filter="!Event: Newexten")
            pending = asyncio.ensure_future(c.action("Stall", timeout=5))
            await until(lambda: ami_server.actions("Stall"), what="the stalled action to be sent")
            ami_server.push_event({"Event": "Shutdown", "Shutdown": "Cleanly", "Restart": "True"})
            ami_server.drop()
            with pytest.raises(AMIConnectionError, match=r"connection lost while waiting for Stall") as ei:
                await asyncio.wait_for(pending, 2)
            assert "ActionID" in str(ei.value)
            await until(lambda: c.state == "connected" and c.stats["reconnects"] == 1, what="reconnect")
            ami_server.push_event({"Event": "Tick", "N": "after"})
            await until(lambda: after == ["after"], what="event after the drop")
            assert (await c.action("Ping")).ok

    run(main())
    assert ami_server.logins == 2
    masks = [m["EventMask"] for m in ami_server.actions("Events")]
    assert masks == ["call,user", "call,user"]
    filters = [m["Filter"] for m in ami_server.actions("Filter")]
    assert filters == ["Event: Tick", "!Event: Newexten"] * 2
    assert states[:2] == ["connecting", "connected"]
    assert states[2:] == ["reconnecting", "connected", "closed"]


def test_outage_then_back_with_backoff(ami_server: ScriptedServer, run: Any) -> None:
    async def main() -> None:
        async with make_client(ami_server, backoff=(0.05, 0.1)) as c:
            ami_server.down()
            await until(lambda: c.state == "reconnecting", what="reconnecting")
            queued = asyncio.ensure_future(c.action("Ping", timeout=5))  # waits for the connection
            await asyncio.sleep(0.4)  # several refused attempts
            assert c.state == "reconnecting" and not queued.done()
            ami_server.up()
            assert (await queued)["Ping"] == "Pong"
            assert c.stats["reconnects"] == 1

    run(main())


def test_endless_line_garbage_and_huge_message(ami_server: ScriptedServer, run: Any, caplog: Any) -> None:
    caplog.set_level(logging.ERROR, logger="ami_nb")
    ticks: list[Message] = []

    async def main() -> None:
        async with make_client(ami_server, max_message_bytes=256 * 1024) as c:
            c.on("Tick", ticks.append)
            ami_server.push(b"garbage without colon\r\n\r\n")
            big = "x" * 200_000
            ami_server.push_event({"Event": "Tick", "Big": big})
            await until(lambda: len(ticks) == 1, what="the huge event")
            assert ticks[0]["Big"] == big
            assert (await c.action("Ping")).ok
            ami_server.push(b"Event: Endless\r\nData: " + b"y" * 300_000)
            await until(lambda: c.stats["reconnects"] == 1 and c.state == "connected", what="reconnect")
            assert (await c.action("Ping")).ok

    run(main())
    assert "protocol error" in caplog.text and "no end of message" in caplog.text


def test_close_is_clean_and_final(ami_server: ScriptedServer, run: Any) -> None:
    async def main() -> None:
        c = make_client(ami_server, keepalive=5)
        await c.connect()
        pending = asyncio.ensure_future(c.action("Stall", timeout=5))
        await until(lambda: ami_server.actions("Stall"), what="stall sent")
        await c.close()
        assert c.state == "closed"
        with pytest.raises(AMIConnectionError):
            await pending
        with pytest.raises(AMIConnectionError, match="closed"):
            await c.action("Ping")
        await c.close()  # idempotent
        left = [t for t in asyncio.all_tasks() if "AMIClient" in t.get_coro().__qualname__]
        assert not left, left

    ami_server.reply("Stall", STALL)
    run(main())
    assert ami_server.actions("Logoff")
    ami_server.wait_for(lambda: not ami_server.conns, what="server sees the close")


def test_no_reconnect_option_closes(ami_server: ScriptedServer, run: Any) -> None:
    async def main() -> None:
        async with make_client(ami_server, reconnect=False, keepalive=0.05) as c:
            keepalive = c._keepalive_task
            assert keepalive is not None and not keepalive.done()
            ami_server.drop()
            await until(lambda: c.state == "closed", what="closed")
            await until(lambda: keepalive.done(), what="the keepalive task to end with the client")

    run(main())


def test_same_filter_is_remembered_once(ami_server: ScriptedServer, run: Any) -> None:
    async def main() -> None:
        async with make_client(ami_server) as c:
            for _ in range(3):  # a cell run three times
                await c.action("Filter", Operation="Add", Filter="Event: Hangup")
            ami_server.drop()
            await until(lambda: ami_server.logins == 2 and c.state == "connected", what="the reconnect")

    run(main())
    assert len(ami_server.actions("Filter")) == 4  # three sent by the user, one re-applied


def test_shape_result_is_reusable() -> None:
    msg = Message.from_pairs([("Response", "Success"), ("Output", "a"), ("Output", "")])
    out = shape_result("Command", msg)
    assert out == ["a", ""] and out.response.message is msg
    r = shape_result("Ping", Message.from_pairs([("Response", "Success"), ("Ping", "Pong")]))
    assert isinstance(r, Response) and r.to_dict() == {"Response": "Success", "Ping": "Pong"}
    assert "Ping Success" in repr(r) and "<table>" in r._repr_html_()
    assert len(r.to_frame()) == 1


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    key, crt = tmp / "key.pem", tmp / "crt.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(crt),
         "-days", "1", "-subj", "/CN=127.0.0.1"],
        check=True, capture_output=True, timeout=30,
    )
    return key, crt


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make a certificate")
def test_tls_login_with_self_signed_certificate(tmp_path: Path, run: Any) -> None:
    key, crt = _self_signed(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(crt, key)
    client_ctx = ssl.create_default_context()
    client_ctx.check_hostname = False
    client_ctx.verify_mode = ssl.CERT_NONE
    with ScriptedServer(ssl_context=server_ctx) as srv:

        async def main() -> None:
            async with make_client(srv, ssl_context=client_ctx) as c:
                assert c.tls and repr(c).startswith("<AMIClient amis://admin@")
                assert (await c.action("Ping"))["Ping"] == "Pong"
            with pytest.raises(AMIConnectionError):  # the default context verifies and rejects it
                await make_client(srv, tls=True).connect()

        run(main())


# -- issue 9: the reconnect storm, the secret in traceback locals, names ----------------------------------------
def test_backoff_keeps_growing_when_the_server_drops_each_login(ami_server: ScriptedServer, run: Any) -> None:
    """A server that accepts the login and drops at once: the attempts follow the backoff, they do not restart."""
    base, cap = 0.05, 0.4
    ami_server.drop_after_login = True

    async def main() -> None:
        async with make_client(ami_server, backoff=(base, cap), stable_after=30.0, events="off") as c:
            await until(lambda: ami_server.logins >= 7, timeout=10, what="7 logins")
            assert c.state in ("reconnecting", "connecting", "connected")

    run(main())
    t = ami_server.login_times
    gaps = [b - a for a, b in itertools.pairwise(t)][:6]
    # attempt n sleeps min(cap, base * 2**n) times a factor in [0.5, 1] (the documented rule), then logs in
    floors = [0.5 * min(cap, base * 2**n) for n in range(len(gaps))]
    assert all(g >= f for g, f in zip(gaps, floors, strict=True)), (gaps, floors)
    assert sum(gaps) >= sum(floors) and gaps[-1] >= 0.5 * cap


def test_backoff_restarts_after_a_stable_connection(ami_server: ScriptedServer, run: Any) -> None:
    async def main() -> None:
        async with make_client(ami_server, backoff=(0.05, 5.0), stable_after=0.2, events="off") as c:
            for n in range(1, 4):
                await asyncio.sleep(0.3)  # stayed up longer than stable_after
                ami_server.drop()
                await until(lambda n=n: c.stats["reconnects"] == n and c.state == "connected", timeout=3,
                            what=f"reconnect {n}")
                assert c._backoff_step == 1  # one attempt since the last stable connection

    run(main())
    t = ami_server.login_times
    assert all(b - a < 1.0 for a, b in itertools.pairwise(t))  # 0.3 s up + one short backoff (<= 0.05 s) each


def test_action_timeout_text(ami_server: ScriptedServer, run: Any) -> None:
    ami_server.reply("Ping", STALL)

    async def main() -> None:
        async with make_client(ami_server) as c:
            with pytest.raises(AMITimeoutError) as ei:
                await c.action("Ping", timeout=0.1)
            assert str(ei.value).startswith("no response to Ping (ActionID ")

    run(main())


def test_event_mask_is_named_and_the_old_name_warns(ami_server: ScriptedServer) -> None:
    c = make_client(ami_server, events="call,agent")
    assert c.event_mask == "call,agent"
    with pytest.warns(DeprecationWarning, match="event_mask"):
        assert c.events == "call,agent"


def test_route_cache_is_bounded_by_count_and_name_length(ami_server: ScriptedServer, run: Any) -> None:
    from ami_nb import client as client_mod

    got: list[str] = []

    async def main() -> None:
        async with make_client(ami_server) as c:
            c.on("X*", lambda e: got.append(e.event or ""))
            names = [f"X{i}" for i in range(client_mod._MAX_ROUTES + 50)] + ["X" + "y" * 5000]
            ami_server.push(b"".join(f"Event: {n}\r\n\r\n".encode() for n in names))
            await until(lambda: len(got) == len(names), what="every invented event delivered")
            assert len(c._routes) <= client_mod._MAX_ROUTES
            assert all(len(k) <= client_mod._MAX_ROUTE_NAME for k in c._routes)

    run(main())

"""AMI action handlers of the simulated PBX, answered in the shapes a real Asterisk 22.10.1 used.

Each handler is registered with :func:`~ami_nb.sim.registry.action` (which holds the write classes it needs) and
is ``async def handler(server, conn, msg) -> bool`` (False closes the connection). Responses keep the recorded key
order; list actions answer ``EventList: start``, then items, then a ``...Complete`` event
(:mod:`~ami_nb.sim.wire`). The queue actions are in :mod:`~ami_nb.sim.queue_actions`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import random
import re
import time

from ..protocol import Message
from . import configs
from .access import ORIGINATE_FORBIDDEN, Pairs, classes, events_mask, originate_permitted, parse_filter
from .connection import ManagerConnection
from .flood import flood
from .model import CALL, DIALPLAN, PBX, REASON_ANSWERED, STATE_DESC, Channel, Scenario, _split_callerid
from .registry import ServerView, action
from .wire import list_item, list_response

VERSION_LINE = "Asterisk 22.10.1 built by root @ vm on a x86_64 running Linux on 2026-11-26 08:00:43 UTC"
BLACKLISTED = ("module load", "module unload", "module reload", "restart", "core restart", "core stop", "stop")
MAX_PUBLIC_UNIQUEID = 149  # AST_MAX_PUBLIC_UNIQUEID, include/asterisk/channel.h
LOADED_MODULES = frozenset(
    {"app_queue", "app_dial", "app_confbridge", "app_echo", "app_playback", "app_verbose", "app_userevent",
     "app_stack", "pbx_config", "chan_bridge_media", "bridge_simple", "bridge_softmix", "bridge_native_rtp",
     "bridge_holding", "cdr_manager", "cel_manager", "res_timing_timerfd", "res_musiconhold", "res_parking",
     "res_agi", "func_base64", "func_callerid", "func_cdr", "func_channel", "func_db", "func_global"}
)

log = logging.getLogger("ami_nb.sim")


# -- session ---------------------------------------------------------------------------------------------------
@action("Login", before_login=True)
async def _login(server: ServerView, conn: ManagerConnection, msg: Message) -> bool:
    user = msg.get("Username", "")
    spec = server.users.get(user)
    ok = False
    if spec is not None:
        if msg.get("AuthType", "").lower() == "md5":
            key = msg.get("Key", "")
            ok = conn.challenge is not None and key.lower() == hashlib.md5(
                (conn.challenge + spec.secret).encode()).hexdigest()
        else:
            ok = msg.get("Secret") == spec.secret
    if spec is None or not ok:
        await asyncio.sleep(server.auth_fail_delay)
        conn.respond(msg, "Error", ("Message", "Authentication failed"))
        log.info("sim: authentication failed for %r", user)
        return False
    conn.user = user
    conn.read, conn.write = classes(spec.read), classes(spec.write)
    conn.mask = events_mask(msg.get("Events", "on"))
    conn.respond(msg, "Success", ("Message", "Authentication accepted"))
    uptime = str(int(time.time() - server.booted))
    server.send_event(conn, "FullyBooted", "system,all",
                      [("Uptime", uptime), ("LastReload", uptime), ("Status", "Fully Booted")], stamp=False)
    tv = _event_tv(time.time())
    # a security event: every session that reads ``security`` gets it (recordings 41 and 43 show the driver's)
    auth = [
        ("EventTV", tv), ("Severity", "Informational"), ("Service", "AMI"), ("EventVersion", "1"),
        ("AccountID", user), ("SessionID", f"0x{id(conn):x}"), ("LocalAddress", conn.local),
        ("RemoteAddress", conn.remote), ("UsingPassword", "0"), ("SessionTV", tv),
    ]
    for other in [conn, *(c for c in list(server.connections) if c is not conn)]:
        server.send_event(other, "SuccessfulAuth", "security,all", auth)
    return True


def _event_tv(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}+0000"


@action("Challenge", before_login=True)
async def _challenge(server: ServerView, conn: ManagerConnection, msg: Message) -> bool:
    if msg.get("AuthType", "").lower() != "md5":
        conn.respond(msg, "Error", ("Message", "Must specify AuthType"))
        return True
    if conn.challenge is None:
        conn.challenge = str(random.SystemRandom().randrange(100_000_000, 999_999_999))
    conn.respond(msg, "Success", ("Challenge", conn.challenge))
    return True


@action("Logoff", before_login=True)
async def _logoff(server: ServerView, conn: ManagerConnection, msg: Message) -> bool:
    conn.respond(msg, "Goodbye", ("Message", "Thanks for all the fish."))
    return False


@action("Ping")
async def _ping(server: ServerView, conn: ManagerConnection, msg: Message) -> bool:
    conn.respond(msg, "Success", ("Ping", "Pong"), ("Timestamp", f"{time.time():.6f}"))
    return True


@action("Events")
async def _events(server: ServerView, conn: ManagerConnection, msg: Message) -> bool:
    conn.mask = events_mask(msg.get("EventMask", "off"))
    conn.respond(msg, "Success", ("Events", "Off" if conn.mask is not None and not conn.mask else "On"))
    return True


@action("Filter")
async def _filter(server: ServerView, conn: ManagerConnection, msg: Message) -> bool:
    if msg.get("Operation", "Add").lower() != "add":
        conn.respond(msg, "Error", ("Message", "Unknown operation"))
        return True
    f = parse_filter(msg.get("MatchCriteria"), msg.get("Filter"))
    if isinstance(f, str):
        conn.respond(msg, "Error", ("Message", f))
        return True
    conn.filters.append(f)
    conn.respond(msg, "Success", ("Message", "Success"))
    return True


@action("ListCommands")
async def _listcommands(server: ServerView, conn: ManagerConnection, msg: Message) -> bool:
    conn.respond(msg, "Success", *configs.LIST_COMMANDS)
    return True


# -- core ------------------------------------------------------------------------------------------------------
@action("CoreSettings")
async def _coresettings(server: ServerView, conn: ManagerConnection, msg: Message) -> bool:
    conn.respond(msg, "Success", ("AMIversion", "11.0.0"), ("AsteriskVersion", "22.10.1"), ("SystemName", ""),
              ("CoreMaxCalls", "0"), ("CoreMaxLoadAvg", "0.000000"), ("CoreRunUser", ""), ("CoreRunGroup", ""),
              ("CoreMaxFilehandles", "0"), ("CoreRealTimeEnabled", "No"), ("CoreCDRenabled", "Yes"),
              ("CoreHTTPenabled", "No"), ("SoundsSearchCustomDir", "No"))
    return True


@action("CoreStatus")
async def _corestatus(server: ServerView, conn: ManagerConnection, msg: Message) -> bool:
    t = time.localtime(server.booted)
    d, hms = time.strftime("%Y-%m-%d", t), time.strftime("%H:%M:%S", t)
    conn.respond(msg, "Success", ("CoreStartupDate", d), ("CoreStartupTime", hms), ("CoreReloadDate", d),
              ("CoreReloadTime", hms), ("CoreCurrentCalls", str(len(server.pbx.channels))),
              ("CoreProcessedCalls", str(server.pbx.processed_calls)))
    return True


def _duration(server: ServerView, ch: Channel) -> int:
    return max(0, int(server.pbx.now - ch.created))


@action("CoreShowChannels")
async def _coreshowchannels(server: ServerView, conn: ManagerConnection, msg: Message) -> bool:
    items = []
    for ch in list(server.pbx.channels.values()):
        d = _duration(server, ch)
        items.append(list_item(msg, "CoreShowChannel", [
            *ch.snapshot(), ("Application", ch.app), ("ApplicationData", ch.appdata),
            ("Duration", f"{d // 3600:02d}:{d // 60 % 60:02d}:{d % 60:02d}"),
            ("BridgeId", ch.bridge.id if ch.bridge else ""),
        ]))
    conn.send(list_response(msg, "Channels will follow", items, "CoreShowChannelsComplete"))
    return True


def _status_item(server: ServerView, msg: Message, ch: Channel, variables: list[str]) -> bytes:
    pairs: Pairs = [("Privilege", "Call"), *ch.snapshot(), ("Type", ch.name.partition("/")[0]), ("DNID", ""),
                    ("EffectiveConnectedLineNum", ch.con_num), ("EffectiveConnectedLineName", ch.con_name),
                    ("TimeToHangup", "0"), ("BridgeID", ch.bridge.id if ch.bridge else ""),
                    ("Application", ch.app), ("Data", ch.appdata), ("Nativeformats", "(slin)"),
                    ("Readformat", "slin"), ("Readtrans", ""), ("Writeformat", "slin"), ("Writetrans", ""),
                    ("Callgroup", "0"), ("Pickupgroup", "0"), ("Seconds", str(_duration(server, ch)))]
    for v in variables:
        pairs.append(("Variable", f"{v}={_chan_var(ch, v)}"))
    return list_item(msg, "Status", pairs, aid_last=True)


def _chan_var(ch: Channel, name: str) -> str:
    if name == "CHANNEL(state)":
        return STATE_DESC.get(ch.state, "Unknown")
    if name == "CHANNEL(language)":
        return "en"
    if name == "CHANNEL(name)":
        return ch.name
    if name == "UNIQUEID":
        return ch.uniqueid
    return ch.vars.get(name, "")


@action("Status")
async def _status(server: ServerView, conn: ManagerConnection, msg: Message) -> bool:
    name = msg.get("Channel")
    chans = list(server.pbx.channels.values())
    if name:
        chans = [c for c in chans if c.name == name]
        if not chans:
            conn.respond(msg, "Error", ("Message", "No such channel"))
            return True
    variables = [v.strip() for v in msg.get("Variables", "").split(",") if v.strip()]
    items = []
    for ch in chans:
        vs = list(variables)
        if msg.get("AllVariables", "").lower() in ("true", "yes", "1"):
            vs = list(ch.vars)
        items.append(_status_item(server, msg, ch, vs))
    n = str(len(items))
    conn.send(list_response(msg, "Channel status will follow", items, "StatusComplete", ("Items", n)))
    return True


# -- Command ---------------------------------------------------------------------------------------------------
def _uptime(secs: int) -> str:
    parts: list[str] = []
    for unit, size in (("hour", 3600), ("minute", 60), ("second", 1)):
        q, secs = divmod(secs, size)
        if q or (unit == "second" and not parts):
            parts.append(f"{q} {unit}{'s' if q != 1 else ''}")
    return ", ".join(parts)


def _core_show_channels(server: ServerView) -> list[str]:
    out = [f"{'Channel':<64} {'Location':<32} {'State':<7} {'Application(Data)':<30}"]
    for ch in server.pbx.channels.values():
        loc = f"{ch.exten}@{ch.context}:{ch.priority}"
        app = f"{ch.app}({ch.appdata})" if ch.app else "(None)"
        out.append(f"{ch.name:<64} {loc:<32} {STATE_DESC.get(ch.state, 'Unknown'):<7} {app[:30]:<30}")
    n = len(server.pbx.channels)
    calls = len(server.pbx.linked)
    out += [f"{n} active channel{'s' if n != 1 else ''}", f"{calls} active call{'s' if calls != 1 else ''}",
            f"{server.pbx.processed_calls} call{'s' if server.pbx.processed_calls != 1 else ''} processed"]
    return out


def _queue_show(server: ServerView) -> list[str]:
    out = []
    for q in server.pbx.queues.values():
        calls = len(q.callers)
        out.append(f"{q.name} has {calls} calls (max unlimited) in '{q.strategy}' strategy "
                   f"({int(q.holdtime / max(1, q.completed))}s holdtime, {int(q.talktime / max(1, q.completed))}s "
                   f"talktime), W:0, C:{q.completed}, A:{q.abandoned}, SL:0.0%, SL2:0.0% within 0s")
        out.append("   Members: ")
        for m in q.members:
            state = "In use" if m.in_call else "Not in use"
            paused = " (paused)" if m.paused else ""
            out.append(f"      {m.name} ({m.interface} from {m.state_interface}) ({m.membership}){paused} "
                       f"({state}) has taken {m.calls_taken} calls (last was {m.last_call} secs ago)")
        if q.callers:
            out.append("   Callers: ")
            for i, c in enumerate(q.callers, 1):
                out.append(f"      {i}. {c.name} (wait: {int(server.pbx.now - c.created)}s, prio: 0)")
        else:
            out.append("   No Callers")
        out.append("")
    return out


def _cli(server: ServerView, command: str) -> tuple[bool, list[str]]:
    words = command.split()
    cmd = " ".join(words).lower()
    if cmd == "core show version":
        return True, [VERSION_LINE]
    if cmd == "core show uptime":
        up = _uptime(int(time.time() - server.booted))
        return True, [f"System uptime: {up}", f"Last reload: {up}"]
    if cmd == "core show channels":
        return True, _core_show_channels(server)
    if cmd == "core show help manager":
        return True, list(configs.HELP_MANAGER)
    if cmd == "queue show":
        return True, _queue_show(server)
    if len(words) == 3 and cmd.startswith("dialplan show "):
        if words[2] == "demo":
            return True, list(configs.DIALPLAN_SHOW_DEMO)
        return False, [f"There is no existence of '{words[2]}' context"]
    hint = " ".join(words[:2])
    return False, [f"No such command '{command}' (type 'core show help {hint}' for other possible commands)"]


@action("Command")
async def _command(server: ServerView, conn: ManagerConnection, msg: Message) -> bool:
    command = msg.get("Command")
    if not command:
        conn.respond(msg, "Error", ("Message", "No command provided"))
        return True
    norm = " ".join(command.split()).lower()
    if any(norm == b or norm.startswith(b + " ") for b in BLACKLISTED):
        conn.respond(msg, "Error", ("Message", "Command blacklisted"))
        return True
    ok, lines = _cli(server, command)
    conn.respond(msg, "Success" if ok else "Error", ("Message", "Command output follows"),
              *[("Output", line) for line in lines])
    return True


# -- config ----------------------------------------------------------------------------------------------------
@action("GetConfig")
async def _getconfig(server: ServerView, conn: ManagerConnection, msg: Message) -> bool:
    pairs = configs.get_config_pairs(msg.get("Filename", ""), msg.get("Category"))
    if pairs is None:
        conn.respond(msg, "Error", ("Message", "Config file not found"))
    else:
        conn.respond(msg, "Success", *pairs)
    return True


@action("GetConfigJSON")
async def _getconfigjson(server: ServerView, conn: ManagerConnection, msg: Message) -> bool:
    js = configs.get_config_json(msg.get("Filename", ""))
    if js is None:
        conn.respond(msg, "Error", ("Message", "Config file not found"))
    else:
        conn.respond(msg, "Success", ("JSON", js))
    return True


@action("ListCategories")
async def _listcategories(server: ServerView, conn: ManagerConnection, msg: Message) -> bool:
    cats = configs.FILES.get(msg.get("Filename", ""))
    if cats is None:
        conn.respond(msg, "Error", ("Message", "Config file not found"))
    else:
        conn.respond(msg, "Success", *[(f"Category-{i:06d}", name) for i, (name, _) in enumerate(cats)])
    return True


@action("ShowDialPlan")
async def _showdialplan(server: ServerView, conn: ManagerConnection, msg: Message) -> bool:
    ctx = msg.get("Context")
    entries = configs.dialplan(ctx)
    if ctx and not entries:
        conn.respond(msg, "Error", ("Message", f"Did not find context {ctx}"))
        return True
    items = []
    for c, ext, prio, app, data in entries:
        pairs: Pairs = [("Context", c), ("Extension", ext), ("Priority", prio), ("Application", app)]
        if data is not None:
            pairs.append(("AppData", data))
        pairs.append(("Registrar", "pbx_config"))
        items.append(list_item(msg, "ListDialplan", pairs))
    n_ext = len({(c, e) for c, e, *_ in entries})
    n_prio = sum(1 for e in entries if e[2] != "hint")
    n_ctx = len({e[0] for e in entries})
    conn.send(list_response(msg, "DialPlan list will follow", items, "ShowDialPlanComplete",
                            ("ListExtensions", str(n_ext)), ("ListPriorities", str(n_prio)),
                            ("ListContexts", str(n_ctx))))
    return True


# -- originate / hangup / redirect -------------------------------------------------------------------------------
@action("Originate")
async def _originate(server: ServerView, conn: ManagerConnection, msg: Message) -> bool:
    # The checks and messages of manager.c's action_originate (Asterisk 22.10.1), in its order.
    channel = msg.get("Channel", "")
    app = msg.get("Application") or None
    exten = msg.get("Exten") or None
    data = msg.get("Data", "")
    if any(len(msg.get(k, "")) > MAX_PUBLIC_UNIQUEID for k in ("ChannelId", "OtherChannelId")):
        conn.respond(msg, "Error", ("Message", f"Uniqueid length exceeds maximum of {MAX_PUBLIC_UNIQUEID}\n"))
        return True
    if not channel:
        conn.respond(msg, "Error", ("Message", "Channel not specified"))
        return True
    priority = msg.get("Priority", "")
    pi = scan_int(priority) if priority else 0
    if pi is None:  # not a number, and the demo dialplan has no priority labels to look it up by
        conn.respond(msg, "Error", ("Message", "Invalid priority"))
        return True
    timeout_text = msg.get("Timeout", "")
    timeout_ms = scan_int(timeout_text) if timeout_text else 30000
    if timeout_ms is None:
        conn.respond(msg, "Error", ("Message", "Invalid timeout"))
        return True
    timeout = timeout_ms / 1000.0
    if "/" not in channel:
        conn.respond(msg, "Error", ("Message", "Invalid channel"))
        return True
    if app is not None and not originate_permitted(app, data, conn.write):
        conn.respond(msg, "Error", ("Message", ORIGINATE_FORBIDDEN))
        return True
    if app is None and exten is None:
        # Asterisk looks the empty extension up when a priority is given; without one a synchronous Originate
        # is refused (an asynchronous one is queued and fails later: answered here with the same refusal).
        conn.respond(msg, "Error", ("Message", "Extension does not exist." if pi else
                                    "Originate with 'Exten' requires 'Context' and 'Priority'"))
        return True
    variables: Pairs = []
    for v in msg.getall("Variable"):
        for part in v.split(","):
            k, _, val = part.partition("=")
            if k:
                variables.append((k, val))
    is_async = msg.get("Async", "").lower() in ("true", "yes", "1")
    loop = asyncio.get_running_loop()
    done: asyncio.Future[int] = loop.create_future()
    aid = msg.get("ActionID")
    callerid = msg.get("CallerID", "")

    def on_result(reason: int, ch: Channel | None) -> None:
        pairs: Pairs = []
        if aid is not None:
            pairs.append(("ActionID", aid))
        pairs.append(("Response", "Success" if reason == REASON_ANSWERED else "Failure"))
        pairs.append(("Channel", ch.name if ch is not None else channel))
        if app is not None:
            pairs += [("Application", app), ("Data", data)]
        else:
            pairs += [("Context", msg.get("Context", "")), ("Exten", exten or "")]
        pairs.append(("Reason", str(reason)))
        if ch is not None:
            pairs += [("Uniqueid", ch.uniqueid), ("CallerIDNum", ch.cid_num), ("CallerIDName", ch.cid_name),
                      (f"ChanVariable({ch.name})", f"DEMOVAR={ch.vars.get('DEMOVAR', '')}"),
                      (f"ChanVariable({ch.name})", "CHANNEL(language)=en")]
        else:
            num, name = _split_callerid(callerid)
            pairs += [("Uniqueid", "<unknown>"), ("CallerIDNum", num), ("CallerIDName", name)]
        if is_async:
            server.pbx.emit("OriginateResponse", CALL, pairs)
        if not done.done():
            done.set_result(reason)

    gen = server.pbx.originate(
        channel, context=msg.get("Context"), exten=exten, priority=pi or 1,
        application=app, data=data, callerid=callerid, variables=variables,
        account=msg.get("Account", ""), timeout=timeout, on_result=on_result,
    )
    if is_async:
        conn.respond(msg, "Success", ("Message", "Originate successfully queued"))
    server.pbx.sched.add(gen)
    server.wake()
    if is_async:
        return True
    real_timeout = timeout / server.time_scale if not math.isinf(server.time_scale) else 0.0
    try:
        reason = await asyncio.wait_for(done, real_timeout + 5.0)
    except TimeoutError:
        reason = 0
    if reason == REASON_ANSWERED:
        conn.respond(msg, "Success", ("Message", "Originate successfully queued"))
    else:
        conn.respond(msg, "Error", ("Message", "Originate failed"))
    return True


_SCANF_INT = re.compile(r"\s*([-+]?\d{1,29})")


def scan_int(text: str) -> int | None:
    """``sscanf(text, "%30d")`` as manager.c reads numbers: leading blanks skipped, trailing text ignored
    (``"5s"`` is 5), None when no digits start it."""
    m = _SCANF_INT.match(text)
    return int(m.group(1)) if m else None


def _find(server: ServerView, name: str) -> Channel | None:
    return server.pbx.channels.get(name)


@action("Hangup")
async def _hangup(server: ServerView, conn: ManagerConnection, msg: Message) -> bool:
    # manager.c's ast_manager_hangup_helper: its checks and messages
    name = msg.get("Channel", "")
    try:  # no Cause: the channel hangs up with cause 0 (recordings 41 and 47)
        cause = int(msg.get("Cause", "0") or 0)
    except ValueError:
        cause = 0
    if not name:
        conn.respond(msg, "Error", ("Message", "No channel specified"))
        return True
    if name.startswith("/"):
        if len(name) < 2 or not name.endswith("/"):
            conn.respond(msg, "Error", ("Message", "Regex format invalid, Channel param should be /regex/"))
            return True
        try:
            rx = re.compile(name[1:-1])
        except re.error:
            conn.respond(msg, "Error", ("Message", f"Regex compile failed on: {name}"))
            return True
        hit = [c for c in list(server.pbx.channels.values()) if rx.search(c.name)]
        items = [list_item(msg, "ChannelHungup", [("Channel", c.name)], aid_last=True) for c in hit]
        conn.send(list_response(msg, "Channels hung up will follow", items, "ChannelsHungupListComplete"))
        for c in hit:
            server.pbx.soft_hangup(c, cause)
        server.wake()
        return True
    ch = _find(server, name)
    if ch is None:
        conn.respond(msg, "Error", ("Message", "No such channel"))
        return True
    conn.respond(msg, "Success", ("Message", "Channel Hungup"))
    server.pbx.soft_hangup(ch, cause)
    server.wake()
    return True


def _dialplan(pbx: PBX, ch: Channel, ctx: str, exten: str, prio: int) -> Scenario:
    """The dialplan as a scheduler scenario (its outcome, which a Redirect does not wait for, dropped)."""
    yield from pbx.run_dialplan(ch, ctx, exten, start=prio)


@action("Redirect")
async def _redirect(server: ServerView, conn: ManagerConnection, msg: Message) -> bool:
    # manager.c's action_redirect checks and messages, in its order (ExtraChannel is not simulated)
    name, ctx, exten, priority = (msg.get(k, "") for k in ("Channel", "Context", "Exten", "Priority"))
    for value, missing in ((name, "Channel"), (ctx, "Context"), (exten, "Exten"), (priority, "Priority")):
        if not value:
            conn.respond(msg, "Error", ("Message", f"{missing} not specified"))
            return True
    prio = scan_int(priority)
    if prio is None or prio < 1:  # no priority labels in the demo dialplan
        conn.respond(msg, "Error", ("Message", "Priority is invalid"))
        return True
    ch = _find(server, name)
    if ch is None:
        conn.respond(msg, "Error", ("Message", f"Channel does not exist: {name}"))
        return True
    conn.respond(msg, "Success", ("Message", "Redirect successful"))
    pbx = server.pbx
    b = ch.bridge
    if b is not None:
        pbx.bridge_leave(ch)
        for other in list(b.channels):
            if other.dialed:
                pbx.kick(other)
    pbx.sched.add(_dialplan(pbx, ch, ctx, exten, prio))
    server.wake()
    return True


# -- variables and the database ----------------------------------------------------------------------------------
@action("Setvar")
async def _setvar(server: ServerView, conn: ManagerConnection, msg: Message) -> bool:
    var, value = msg.get("Variable", ""), msg.get("Value", "")
    if not var:
        conn.respond(msg, "Error", ("Message", "No variable specified"))
        return True
    name = msg.get("Channel")
    if name:
        ch = _find(server, name)
        if ch is None:
            conn.respond(msg, "Error", ("Message", "No such channel"))
            return True
        conn.respond(msg, "Success", ("Message", "Variable Set"))
        server.pbx.varset(ch, var, value)
        return True
    server.pbx.globals[var] = value
    conn.respond(msg, "Success", ("Message", "Variable Set"))
    server.pbx.emit("VarSet", DIALPLAN, [("Channel", "none"), ("Uniqueid", "none"), ("Variable", var),
                                         ("Value", value)])
    return True


@action("Getvar")
async def _getvar(server: ServerView, conn: ManagerConnection, msg: Message) -> bool:
    var = msg.get("Variable", "")
    if not var:
        conn.respond(msg, "Error", ("Message", "No variable specified"))
        return True
    name = msg.get("Channel")
    if name:
        ch = _find(server, name)
        if ch is None:
            conn.respond(msg, "Error", ("Message", "No such channel"))
            return True
        value = _chan_var(ch, var)
    else:
        m = re.fullmatch(r"GLOBAL\((.*)\)", var)
        value = server.pbx.globals.get(m.group(1) if m else var, "")
    conn.respond(msg, "Success", ("Variable", var), ("Value", value))
    return True


@action("DBPut")
async def _dbput(server: ServerView, conn: ManagerConnection, msg: Message) -> bool:
    fam, key = msg.get("Family"), msg.get("Key")
    if not fam or not key:
        conn.respond(msg, "Error", ("Message", "No family specified" if not fam else "No key specified"))
        return True
    server.pbx.db[f"/{fam}/{key}"] = msg.get("Val", "")
    conn.respond(msg, "Success", ("Message", "Updated database successfully"))
    return True


@action("DBGet")
async def _dbget(server: ServerView, conn: ManagerConnection, msg: Message) -> bool:
    fam, key = msg.get("Family", ""), msg.get("Key", "")
    val = server.pbx.db.get(f"/{fam}/{key}")
    if val is None:
        conn.respond(msg, "Error", ("Message", "Database entry not found"))
        return True
    item = list_item(msg, "DBGetResponse", [("Family", fam), ("Key", key), ("Val", val)], aid_last=True)
    conn.send(list_response(msg, "Result will follow", [item], "DBGetComplete"))
    return True


@action("DBGetTree")
async def _dbgettree(server: ServerView, conn: ManagerConnection, msg: Message) -> bool:
    fam, key = msg.get("Family", ""), msg.get("Key", "")
    prefix = f"/{fam}" + (f"/{key}" if key else "")
    hits = [(k, v) for k, v in sorted(server.pbx.db.items()) if k == prefix or k.startswith(prefix + "/")]
    if not hits:
        conn.respond(msg, "Error", ("Message", "Database entry not found"))
        return True
    items = [list_item(msg, "DBGetTreeResponse", [("Key", k), ("Val", v)], aid_last=True) for k, v in hits]
    conn.send(list_response(msg, "Result will follow", items, "DBGetTreeComplete"))
    return True


@action("DBDel", "DBDelTree")
async def _dbdel(server: ServerView, conn: ManagerConnection, msg: Message) -> bool:
    fam, key = msg.get("Family", ""), msg.get("Key", "")
    tree = msg.get("Action", "").lower() == "dbdeltree"
    prefix = f"/{fam}" + (f"/{key}" if key else "")
    hits = [k for k in server.pbx.db if k == prefix or (tree and k.startswith(prefix + "/"))]
    if not hits:
        conn.respond(msg, "Error", ("Message", "Database entry not deleted" if tree else "Database entry not found"))
        return True
    for k in hits:
        del server.pbx.db[k]
    conn.respond(msg, "Success", ("Message", "Key tree deleted successfully" if tree else "Key deleted successfully"))
    return True


# -- misc --------------------------------------------------------------------------------------------------------
@action("ModuleCheck")
async def _modulecheck(server: ServerView, conn: ManagerConnection, msg: Message) -> bool:
    mod = msg.get("Module", "").removesuffix(".so")
    if mod in LOADED_MODULES:
        conn.respond(msg, "Success", ("Version", ""))
    else:
        conn.respond(msg, "Error", ("Message", "Module not loaded"))
    return True


@action("UserEvent")
async def _userevent(server: ServerView, conn: ManagerConnection, msg: Message) -> bool:
    name = msg.get("UserEvent")
    if not name:
        conn.respond(msg, "Error", ("Message", "UserEvent not specified"))
        return True
    conn.respond(msg, "Success", ("Message", "Event Sent"))
    extra = [(k, v) for k, v in msg.pairs() if k.lower() not in ("action", "userevent")]
    server.pbx.emit("UserEvent", "user,all", [("UserEvent", name), *extra])
    return True


@action("BridgeList")
async def _bridgelist(server: ServerView, conn: ManagerConnection, msg: Message) -> bool:
    bridges = {id(c.bridge): c.bridge for c in server.pbx.channels.values() if c.bridge is not None}
    items = [list_item(msg, "BridgeListItem", b.fields()) for b in bridges.values()]
    conn.send(list_response(msg, "Bridge listing will follow", items, "BridgeListComplete"))
    return True


@action("DeviceStateList")
async def _devicestatelist(server: ServerView, conn: ManagerConnection, msg: Message) -> bool:
    devices: dict[str, str] = {}
    for q in server.pbx.queues.values():
        for m in q.members:
            devices[f"Queue:{q.name}_pause_{m.interface}"] = "INUSE" if m.paused else "NOT_INUSE"
    for ch in server.pbx.channels.values():
        if ch.device:
            devices[ch.device] = "INUSE"
    items = [list_item(msg, "DeviceStateChange", [("Device", d), ("State", st)]) for d, st in devices.items()]
    conn.send(list_response(msg, "Device State Changes will follow", items, "DeviceStateListComplete"))
    return True


def _hint_pairs(server: ServerView, exten: str, ctx: str, hint: str) -> Pairs:
    st = server.pbx.hint_state.get(hint, 0)
    text = {0: "Idle", 1: "InUse", 8: "Ringing"}.get(st, "Unknown")
    return [("Exten", exten), ("Context", ctx), ("Hint", hint), ("Status", str(st)), ("StatusText", text)]


@action("ExtensionStateList")
async def _extensionstatelist(server: ServerView, conn: ManagerConnection, msg: Message) -> bool:
    items = [list_item(msg, "ExtensionStatus", _hint_pairs(server, ext, ctx, hint))
             for hint, (ext, ctx) in server.pbx.hints.items()]
    conn.send(list_response(msg, "Extension Statuses will follow", items, "ExtensionStateListComplete"))
    return True


@action("ExtensionState")
async def _extensionstate(server: ServerView, conn: ManagerConnection, msg: Message) -> bool:
    exten, ctx = msg.get("Exten", ""), msg.get("Context", "default")
    hint = next((h for h, (e, c) in server.pbx.hints.items() if e == exten and c == ctx), None)
    if hint is None:
        pairs: Pairs = [("Exten", exten), ("Context", ctx), ("Hint", ""), ("Status", "-1"),
                        ("StatusText", "Unknown")]
    else:
        pairs = _hint_pairs(server, exten, ctx, hint)
    conn.respond(msg, "Success", ("Message", "Extension Status"), *pairs)
    return True


@action("CoreShowChannelMap")
async def _coreshowchannelmap(server: ServerView, conn: ManagerConnection, msg: Message) -> bool:
    name = msg.get("Channel")
    if not name:
        conn.respond(msg, "Error", ("Message", "CoreShowChannelMap requires a channel.\n"))
        return True
    if _find(server, name) is None:
        conn.respond(msg, "Error", ("Message", "Could not get channel snapshot\n"))
        return True
    conn.send(list_response(msg, "Channel map will follow", [], "CoreShowChannelMapComplete"))
    return True


# -- simulator extras (not Asterisk actions; need the 'system' write class) ---------------------------------------
@action("SimFlood", privilege="system")
async def _simflood(server: ServerView, conn: ManagerConnection, msg: Message) -> bool:
    """``Action: SimFlood`` / ``Count: N`` / ``Target: self|all``: flood pre-rendered call events."""
    try:
        n = int(msg.get("Count", "0"))
    except ValueError:
        n = -1
    if n < 0:
        conn.respond(msg, "Error", ("Message", "Count must be a non-negative integer"))
        return True
    # Not "... will follow": without an EventList header that wording marks a legacy list response.
    conn.respond(msg, "Success", ("Message", f"Flood of {n} events queued"))
    targets = None if msg.get("Target", "self").lower() == "all" else [conn]
    asyncio.get_running_loop().create_task(flood(server, n, sessions=targets))
    return True


"""Queue and transfer actions of the simulated PBX (QueueStatus, QueueSummary, QueueAdd, QueuePause, QueueRemove).

Registered with :func:`~ami_nb.sim.registry.action` like every handler; kept beside the queue model they drive.
"""

from __future__ import annotations

from ..protocol import Message
from . import queue_app, traffic, transfers
from .connection import ManagerConnection
from .model import Channel, Member
from .registry import ServerView, action
from .wire import list_item, list_response


@action("QueueStatus")
async def _queuestatus(server: ServerView, conn: ManagerConnection, msg: Message) -> bool:
    want_q, want_m = msg.get("Queue"), msg.get("Member")
    items = []
    now = server.pbx.now
    for q in server.pbx.queues.values():
        if want_q and q.name != want_q:
            continue
        done = max(1, q.completed)
        items.append(list_item(msg, "QueueParams", [
            ("Queue", q.name), ("Max", "0"), ("Strategy", q.strategy), ("Calls", str(len(q.callers))),
            ("Holdtime", str(int(q.holdtime / done))), ("TalkTime", str(int(q.talktime / done))),
            ("Completed", str(q.completed)), ("Abandoned", str(q.abandoned)), ("ServiceLevel", "0"),
            ("ServicelevelPerf", "0.0"), ("ServicelevelPerf2", "0.0"), ("Weight", "0")], aid_last=True))
        for m in q.members:
            if want_m and m.interface != want_m:
                continue
            items.append(list_item(msg, "QueueMember", [*m.fields(), ("Wrapuptime", str(m.wrapuptime))], aid_last=True))
        for i, c in enumerate(q.callers, 1):
            items.append(list_item(msg, "QueueEntry", [
                ("Queue", q.name), ("Position", str(i)), ("Channel", c.name), ("Uniqueid", c.uniqueid),
                ("CallerIDNum", c.cid_num), ("CallerIDName", c.cid_name), ("ConnectedLineNum", c.con_num),
                ("ConnectedLineName", c.con_name), ("Wait", str(int(now - c.created))), ("Priority", "0")],
                aid_last=True))
    conn.send(list_response(msg, "Queue status will follow", items, "QueueStatusComplete"))
    return True


@action("QueueSummary")
async def _queuesummary(server: ServerView, conn: ManagerConnection, msg: Message) -> bool:
    want_q = msg.get("Queue")
    items = []
    now = server.pbx.now
    for q in server.pbx.queues.values():
        if want_q and q.name != want_q:
            continue
        # app_queue: not paused, device NOT_INUSE (or unknown), not within its wrap-up
        avail = sum(1 for m in q.members if not m.paused and not m.in_call and m.status in (None, 0, 1)
                    and not (m.wrapuptime and now - m.wrapuptime < m.last_call))
        longest = max((int(now - c.created) for c in q.callers), default=0)
        done = max(1, q.completed)
        items.append(list_item(msg, "QueueSummary", [
            ("Queue", q.name), ("LoggedIn", str(len(q.members))), ("Available", str(avail)),
            ("Callers", str(len(q.callers))), ("HoldTime", str(int(q.holdtime / done))),
            ("TalkTime", str(int(q.talktime / done))), ("LongestHoldTime", str(longest))], aid_last=True))
    conn.send(list_response(msg, "Queue summary will follow", items, "QueueSummaryComplete"))
    return True


def _member_event(server: ServerView, name: str, m: Member) -> None:
    pairs = [*m.fields(event=True), ("Ringinuse", "1"), ("Wrapuptime", str(m.wrapuptime))]
    server.pbx.emit(name, "agent,all", pairs)


@action("QueueAdd")
async def _queueadd(server: ServerView, conn: ManagerConnection, msg: Message) -> bool:
    q = server.pbx.queues.get(msg.get("Queue", ""))
    iface = msg.get("Interface", "")
    if q is None or not iface:
        conn.respond(msg, "Error", ("Message", "Unable to add interface: No such queue" if q is None
                                 else "'Interface' not specified."))
        return True
    if any(m.interface == iface for m in q.members):
        conn.respond(msg, "Error", ("Message", "Unable to add interface: Already there"))
        return True
    m = Member(q.name, msg.get("MemberName", iface), iface, msg.get("StateInterface", iface),
               int(msg.get("Penalty", "0") or 0), "dynamic", login_time=int(server.pbx.now))
    q.members.append(m)
    conn.respond(msg, "Success", ("Message", "Added interface to queue"))
    # member_add_to_queue: the pause state, then the queue's availability (add_to_queue in app_queue.c)
    server.pbx.devstate(f"Queue:{q.name}_pause_{iface}", "NOT_INUSE", cachable=True)
    _member_event(server, "QueueMemberAdded", m)
    queue_app.update_avail(server.pbx, q)
    traffic.queue_changed(server.pbx, q)
    return True


@action("QueuePause")
async def _queuepause(server: ServerView, conn: ManagerConnection, msg: Message) -> bool:
    iface = msg.get("Interface", "")
    paused = msg.get("Paused", "true").lower() in ("true", "yes", "1")
    found = [m for q in server.pbx.queues.values() if not msg.get("Queue") or q.name == msg.get("Queue")
             for m in q.members if m.interface == iface]
    if not found:
        conn.respond(msg, "Error", ("Message", "Interface not found"))
        return True
    conn.respond(msg, "Success", ("Message", "Interface paused successfully" if paused
                               else "Interface unpaused successfully"))
    for m in found:
        m.paused, m.paused_reason = paused, msg.get("Reason", "") if paused else ""
        m.last_pause = int(server.pbx.now)
        # set_queue_member_pause: the pause state, the queue's availability, then QueueMemberPause
        server.pbx.devstate(f"Queue:{m.queue}_pause_{iface}", "INUSE" if paused else "NOT_INUSE", cachable=True)
        queue_app.update_avail(server.pbx, server.pbx.queues[m.queue])
        _member_event(server, "QueueMemberPause", m)
        traffic.queue_changed(server.pbx, server.pbx.queues[m.queue])
    return True


@action("QueueRemove")
async def _queueremove(server: ServerView, conn: ManagerConnection, msg: Message) -> bool:
    q = server.pbx.queues.get(msg.get("Queue", ""))
    iface = msg.get("Interface", "")
    m = next((m for m in q.members if m.interface == iface), None) if q else None
    if q is None or m is None:
        conn.respond(msg, "Error", ("Message", "Unable to remove interface: Not there" if q
                                 else "Unable to remove interface from queue: No such queue"))
        return True
    q.members.remove(m)
    conn.respond(msg, "Success", ("Message", "Removed interface from queue"))
    _member_event(server, "QueueMemberRemoved", m)
    # member_remove_from_queue: QUEUE_UNKNOWN_PAUSED_DEVSTATE (NOT_INUSE, so nothing when it was unpaused)
    server.pbx.devstate(f"Queue:{q.name}_pause_{iface}", "NOT_INUSE", cachable=True)
    queue_app.update_avail(server.pbx, q)
    return True


# -- transfers (main/manager.c action_blind_transfer, action_atxfer; the model in transfers.py) ------------------
def _transfer_target(server: ServerView, conn: ManagerConnection, msg: Message) -> tuple[object, str, str] | None:
    name, exten = msg.get("Channel", ""), msg.get("Exten", "")
    if not name:
        conn.respond(msg, "Error", ("Message", "No channel specified"))
        return None
    if not exten:
        conn.respond(msg, "Error", ("Message", "No extension specified"))
        return None
    ch = server.pbx.channels.get(name)
    if ch is None:
        conn.respond(msg, "Error", ("Message", "Channel specified does not exist"))
        return None
    return ch, msg.get("Context") or ch.context, exten


@action("BlindTransfer")
async def _blindtransfer(server: ServerView, conn: ManagerConnection, msg: Message) -> bool:
    found = _transfer_target(server, conn, msg)
    if found is None:
        return True
    ch, context, exten = found
    assert isinstance(ch, Channel)
    text = transfers.blind_transfer(server.pbx, ch, context, exten)
    conn.respond(msg, "Success" if text == "Transfer succeeded" else "Error", ("Message", text))
    server.wake()
    return True


@action("Atxfer")
async def _atxfer(server: ServerView, conn: ManagerConnection, msg: Message) -> bool:
    found = _transfer_target(server, conn, msg)
    if found is None:
        return True
    ch, context, exten = found
    assert isinstance(ch, Channel)
    error = transfers.atxfer(server.pbx, ch, context, exten)
    if error is not None:
        conn.respond(msg, "Error", ("Message", error))
        return True
    conn.respond(msg, "Success", ("Message", "Atxfer successfully queued"))
    server.wake()
    return True

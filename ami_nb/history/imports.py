"""Imports into an archive: what the PBX kept before ami_nb was connected, as the events AMI would have sent.

Every importer writes through the same :class:`~ami_nb.history.writer.Archive` as a live session, so the
dataset has one shape whatever the source, and returns an :class:`ImportReport` saying what it could not map.

===========================  ========================================================================================
``import_transcript``        a ``session.record`` transcript (and its timeline): its events, at their read times
``import_jsonl``             JSON Lines of AMI key/value objects (:func:`ami_nb.recording.to_jsonl` writes them)
``import_cdr_csv``           ``cdr_csv``'s ``Master.csv`` -> ``Cdr`` events (the fields of AMI's ``Cdr`` event)
``import_cel_csv``           ``cel_custom``'s CSV (the sample ``Master.csv`` mapping by default) -> ``CEL`` events
``import_queue_log``         app_queue's ``queue_log`` -> ``QueueCallerJoin``, ``AgentConnect``, ``AgentComplete``,
                             ``QueueCallerAbandon``, ``QueueCallerLeave``, ``AgentRingNoAnswer``
===========================  ========================================================================================

The CSV times are local time on the PBX unless it logs in GMT (``usegmtime``); ``tz`` names the zone.
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

from ..protocol import Message
from .writer import Archive

__all__ = [
    "CDR_FIELDS",
    "CEL_FIELDS",
    "ImportReport",
    "import_cdr_csv",
    "import_cel_csv",
    "import_jsonl",
    "import_queue_log",
    "import_transcript",
]

PathLike = str | os.PathLike[str]
_BATCH = 5000

#: ``Master.csv`` columns, as ``cdr_csv.c`` writes them (``loguniqueid`` and ``loguserfield`` on, the defaults),
#: named as AMI's ``Cdr`` event names them; ``newcdrcolumns=yes`` appends the last three.
CDR_FIELDS = ("AccountCode", "Source", "Destination", "DestinationContext", "CallerID", "Channel",
              "DestinationChannel", "LastApplication", "LastData", "StartTime", "AnswerTime", "EndTime",
              "Duration", "BillableSeconds", "Disposition", "AMAFlags", "UniqueID", "UserField",
              "PeerAccount", "LinkedID", "Sequence")
#: The sample ``cel_custom.conf`` mapping (``Master.csv => ${CSV_QUOTE(${eventtype})},...``), named as AMI's
#: ``CEL`` event names the fields (``userdeftype`` has no AMI name: ``UserDefType``).
CEL_FIELDS = ("EventName", "EventTime", "CallerIDname", "CallerIDnum", "CallerIDani", "CallerIDrdnis",
              "CallerIDdnid", "Exten", "Context", "Channel", "Application", "AppData", "AMAFlags", "AccountCode",
              "UniqueID", "LinkedID", "Peer", "Userfield", "UserDefType", "Extra")
#: The order of AMI's CEL event (what a live session would have stored).
_CEL_ORDER = ("EventName", "AccountCode", "CallerIDnum", "CallerIDname", "CallerIDani", "CallerIDrdnis",
              "CallerIDdnid", "Exten", "Context", "Channel", "Application", "AppData", "EventTime", "AMAFlags",
              "UniqueID", "LinkedID", "Userfield", "Peer", "PeerAccount", "Extra", "UserDefType")
_AMAFLAGS = {"1": "OMIT", "2": "BILLING", "3": "DOCUMENTATION"}  # ast_channel_amaflags2string


@dataclass
class ImportReport:
    """What an import did: rows read, events written, and each kind of row it could not map (with a count)."""

    source: str
    kind: str
    rows: int = 0
    events: int = 0
    unmapped: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)  # one line per reason, to look at
    #: rows imported as they are whose meaning the call events (what :meth:`History.calls` reads) do not carry,
    #: by reason (CEL and CDR imports: transfers, parking, a record without a unique id...)
    not_in_calls: Counter[str] = field(default_factory=Counter)

    def skip(self, reason: str, line: str = "") -> None:
        self.unmapped[reason] += 1
        self.examples.setdefault(reason, line[:200])

    def __str__(self) -> str:
        head = f"{self.kind} {self.source}: {self.rows} rows read, {self.events} events written"
        if not self.unmapped and not self.not_in_calls:
            return head + ", everything mapped"
        lines = [head + (", not mapped:" if self.unmapped else ", every row imported")]
        lines += [f"  {n:>8}  {reason}" for reason, n in self.unmapped.most_common()]
        if self.not_in_calls:
            lines.append("  imported, but not seen by calls():")
            lines += [f"  {n:>8}  {reason}" for reason, n in self.not_in_calls.most_common()]
        return "\n".join(lines)


class _Writer:
    """Feeds an :class:`Archive` in batches, opened at the first event (its ``seq`` starts at that time)."""

    def __init__(self, root: PathLike, pbx: str, report: ImportReport) -> None:
        self.root, self.pbx, self.report = root, pbx, report
        self.archive: Archive | None = None
        self.batch: list[Message] = []
        self.batch_t: float | None = None

    def add(self, msg: Message, received: float) -> None:
        if self.batch and received != self.batch_t:
            self.flush_batch()
        self.batch_t = received
        self.batch.append(msg)

    def extend(self, events: Sequence[Message], received: float) -> None:  # what load_transcript feeds
        self.flush_batch()
        self._write(list(events), received)

    def frame(self) -> Any:  # what read_* return at the end (unused here)
        return None

    def _write(self, events: list[Message], received: float) -> None:
        if not events:
            return
        if self.archive is None:
            self.archive = Archive(self.root, pbx=self.pbx, seq_base=int(received * 1e9), flush_rows=200_000,
                                   flush_seconds=30.0)
        self.archive.write(events, received)
        self.report.events += len(events)

    def flush_batch(self) -> None:
        if self.batch and self.batch_t is not None:
            self._write(self.batch, self.batch_t)
        self.batch, self.batch_t = [], None

    def close(self) -> ImportReport:
        self.flush_batch()
        if self.archive is not None:
            self.archive.close()
        return self.report


def import_transcript(path: PathLike, root: PathLike, *, pbx: str = "default", **options: Any) -> ImportReport:
    """A ``session.record`` transcript's events into the archive at ``root`` (``options``: those of
    :func:`ami_nb.recording.load_transcript`: ``start``, ``timeline``, ``errors``)."""
    from ..recording import load_transcript
    from ..store import EventStore

    report = ImportReport(str(path), "transcript")
    w = _Writer(root, pbx, report)
    load_transcript(path, store=cast(EventStore, w), **options)
    report.rows = report.events
    return w.close()


def import_jsonl(path: PathLike, root: PathLike, *, pbx: str = "default") -> ImportReport:
    """JSON Lines of AMI objects (``received``: an ISO time or epoch seconds; a list value: a repeated key)."""
    from ..store import to_epoch

    report = ImportReport(str(path), "jsonl")
    w = _Writer(root, pbx, report)
    last_recv: Any = object()
    t = 0.0
    with Path(path).open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            report.rows += 1
            try:
                rec = json.loads(line)
            except ValueError:
                report.skip("not JSON", line)
                continue
            if not isinstance(rec, dict):
                report.skip(f"a JSON {type(rec).__name__}, not an object", line)
                continue
            recv = rec.pop("received", None)
            if recv is None:
                report.skip("no received time", line)
                continue
            if recv != last_recv:
                try:
                    t = to_epoch(recv)
                except (ValueError, TypeError):
                    report.skip("received is not a time", line)
                    continue
                last_recv = recv
            pairs: list[tuple[str, str]] = []
            for k, v in rec.items():
                if isinstance(v, list):
                    pairs.extend((k, str(x)) for x in v)
                elif v is not None:
                    pairs.append((str(k), str(v)))
            msg = Message.from_pairs(pairs)
            if not msg.is_event:
                report.skip("no Event key (not an event)", line)
                continue
            w.add(msg, t)
    return w.close()


def _csv_rows(path: PathLike, report: ImportReport) -> Iterator[tuple[list[str], str]]:
    with Path(path).open(encoding="utf-8", errors="surrogateescape", newline="") as fh:
        for line in fh:
            if not line.strip():
                continue
            report.rows += 1
            try:
                row = next(csv.reader([line]))
            except csv.Error:
                report.skip("not CSV", line)
                continue
            yield row, line


def _local_epoch(text: str, tz: ZoneInfo) -> float:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=tz).timestamp()


def import_cdr_csv(path: PathLike, root: PathLike, *, pbx: str = "default", tz: str = "UTC",
                   fields: Sequence[str] | None = None, calls: bool = True) -> ImportReport:
    """``cdr_csv``'s ``Master.csv``: one ``Cdr`` event per record, received at its ``EndTime`` (in ``tz``).

    With ``calls`` (the default), also the AMI call events each record stands for (marked ``Imported: cdr``):
    ``Newchannel`` of its channel at the start, ``DialBegin``/``DialEnd`` to the destination channel with the
    disposition as the dial status, both channels ``Up`` and in one bridge at the answer, both hung up at the end
    (cause 16 answered, 17 busy, 19 no answer, 34 congestion, 0 failed), so :meth:`History.calls` gives one row
    per call: the records of one ``LinkedID`` (``newcdrcolumns``; else of one ``UniqueID``) are one call.

    ``fields`` names the columns when the PBX logs another set (``loguniqueid``/``loguserfield`` off: the first
    16 of :data:`CDR_FIELDS`); by default 16, 17, 18 or 21 columns are recognised by their count.
    """
    zone = ZoneInfo(tz)
    report = ImportReport(str(path), "cdr csv")
    w = _Writer(root, pbx, report)
    seen: dict[str, None] = {}
    for row, line in _csv_rows(path, report):
        names = fields if fields is not None else (CDR_FIELDS[:len(row)] if len(row) in (16, 17, 18, 21) else None)
        if names is None or len(names) != len(row):
            report.skip(f"{len(row)} columns (expected {len(fields) if fields else '16, 17, 18 or 21'})", line)
            continue
        rec = dict(zip(names, row, strict=True))
        try:
            t = _local_epoch(rec["EndTime"], zone)
        except (KeyError, ValueError):
            report.skip("EndTime is not a time (YYYY-MM-DD HH:MM:SS)", line)
            continue
        w.add(Message.from_pairs([("Event", "Cdr"), ("Privilege", "cdr,all"), *rec.items()]), t)
        if calls:
            _cdr_call_events(rec, t, zone, w, seen)
    return w.close()


_CDR_DIAL = {"ANSWERED": "ANSWER", "BUSY": "BUSY", "NO ANSWER": "NOANSWER", "FAILED": "CHANUNAVAIL",
             "CONGESTION": "CONGESTION"}  # ast_cdr_disp2str -> the Dial status it came from
_CDR_CAUSE = {"ANSWERED": "16", "BUSY": "17", "NO ANSWER": "19", "FAILED": "0", "CONGESTION": "34"}
_CID = re.compile(r'^\s*"?(.*?)"?\s*<([^>]*)>\s*$')
_SEEN_MAX = 100_000  # channels remembered (a channel's Newchannel is written once)


def _caller_id(clid: str, src: str) -> tuple[str, str]:
    """``"Name" <num>`` -> (num, name); the CDR's ``src`` when there is no ``<num>``."""
    m = _CID.match(clid)
    return (m.group(2), m.group(1)) if m else (src, "")


def _remember(seen: dict[str, None], key: str) -> bool:
    """True the first time ``key`` is seen (a bounded memory)."""
    if key in seen:
        return False
    seen[key] = None
    if len(seen) > _SEEN_MAX:
        del seen[next(iter(seen))]
    return True


def _cdr_call_events(rec: dict[str, str], end: float, zone: ZoneInfo, w: _Writer, seen: dict[str, None]) -> None:
    """The AMI call events a CDR record stands for: its channel's ``Newchannel``, a dial to the destination
    channel with its status, both ``Up`` and bridged at the answer, both hung up at the end (cause from the
    disposition). The destination's unique id is not in a CDR: its channel name stands for it."""
    report = w.report
    uid = rec.get("UniqueID", "")
    if not uid:
        report.not_in_calls["a record without UniqueID (loguniqueid off): no call"] += 1
        return
    lid = rec.get("LinkedID") or uid
    if "LinkedID" not in rec:
        report.not_in_calls["no LinkedID (newcdrcolumns off): each record's UniqueID is its call"] += 1
    try:
        start = _local_epoch(rec["StartTime"], zone)
    except ValueError:
        start = end
    try:
        answer: float | None = _local_epoch(rec["AnswerTime"], zone)
    except ValueError:
        answer = None
    disp = rec.get("Disposition", "")
    num, name = _caller_id(rec.get("CallerID", ""), rec.get("Source", ""))
    a, b = rec.get("Channel", ""), rec.get("DestinationChannel", "")
    chan = {"Channel": a, "Uniqueid": uid, "Linkedid": lid}
    dest = {"Channel": b, "Uniqueid": b, "Linkedid": lid}

    def add(t: float, event: str, who: dict[str, str], *pairs: tuple[str, str]) -> None:
        w.add(Message.from_pairs([("Event", event), ("Privilege", "call,all"), ("Timestamp", f"{t:.6f}"),
                                  *who.items(), *pairs, ("Imported", "cdr")]), t)

    if _remember(seen, uid):
        add(start, "Newchannel", chan, ("ChannelState", "0"), ("ChannelStateDesc", "Down"), ("CallerIDNum", num),
            ("CallerIDName", name), ("AccountCode", rec.get("AccountCode", "")),
            ("Context", rec.get("DestinationContext", "")), ("Exten", rec.get("Destination", "")))
    status = _CDR_DIAL.get(disp)
    if status is None:
        report.not_in_calls[f"disposition {disp!r}: no dial status"] += 1
    if b:
        if _remember(seen, b):
            add(start, "Newchannel", dest, ("ChannelState", "0"), ("ChannelStateDesc", "Down"))
        add(start, "DialBegin", chan, ("DestChannel", b), ("DestUniqueid", b), ("DestLinkedid", lid))
        add(answer if answer is not None else end, "DialEnd", chan, ("DestChannel", b), ("DestUniqueid", b),
            ("DestLinkedid", lid), ("DialStatus", status or ""))
    bridge = f"cdr-{uid}-{rec.get('Sequence') or rec.get('StartTime', '')}"
    if answer is not None:
        for who in ([chan, dest] if b else [chan]):
            add(answer, "Newstate", who, ("ChannelState", "6"), ("ChannelStateDesc", "Up"))
        if b:
            for who in (chan, dest):
                add(answer, "BridgeEnter", who, ("BridgeUniqueid", bridge), ("BridgeTechnology", "simple_bridge"))
            for who in (dest, chan):
                add(end, "BridgeLeave", who, ("BridgeUniqueid", bridge))
    cause = _CDR_CAUSE.get(disp, "0")
    for who in ([dest, chan] if b else [chan]):
        add(end, "Hangup", who, ("Cause", cause))


def _cel_time(text: str, tz: ZoneInfo) -> float:
    try:
        return float(text)  # cel.conf's default dateformat: <seconds>.<microseconds>
    except ValueError:
        return _local_epoch(text, tz)


def import_cel_csv(path: PathLike, root: PathLike, *, pbx: str = "default", tz: str = "UTC",
                   fields: Sequence[str] = CEL_FIELDS, calls: bool = True) -> ImportReport:
    """``cel_custom``'s CSV: one ``CEL`` event per record (AMI's keys and order), received at its ``EventTime``.

    With ``calls`` (the default), also the AMI call events the channel records stand for (see
    :func:`_cel_call_events`), so :meth:`History.calls` gives one row per ``LinkedID``; what they cannot carry
    (transfers, parking, pickups...) is counted in :attr:`ImportReport.not_in_calls`.

    ``fields``: the columns of your mapping, named as AMI's CEL event names them (default: the sample
    ``Master.csv`` mapping, :data:`CEL_FIELDS`). A numeric ``AMAFlags`` becomes its name, as AMI sends it.
    """
    zone = ZoneInfo(tz)
    report = ImportReport(str(path), "cel csv")
    w = _Writer(root, pbx, report)
    if "EventName" not in fields or "EventTime" not in fields:
        raise ValueError("fields must name EventName and EventTime (the event type and its time)")
    for row, line in _csv_rows(path, report):
        if len(row) != len(fields):
            report.skip(f"{len(row)} columns (expected {len(fields)})", line)
            continue
        rec = dict(zip(fields, row, strict=True))
        try:
            t = _cel_time(rec["EventTime"], zone)
        except ValueError:
            report.skip("EventTime is not a time", line)
            continue
        if rec.get("AMAFlags") in _AMAFLAGS:
            rec["AMAFlags"] = _AMAFLAGS[rec["AMAFlags"]]
        pairs = [("Event", "CEL"), ("Privilege", "call,all")]
        pairs += [(k, rec.get(k, "")) for k in _CEL_ORDER if k in rec or k == "PeerAccount"]
        pairs += [(k, v) for k, v in rec.items() if k not in _CEL_ORDER]
        w.add(Message.from_pairs(pairs), t)
        if calls:
            _cel_call_events(rec, t, w)
    return w.close()


#: CEL event types the call events do not carry (they stay as CEL events), with what is lost
_CEL_NOT_IN_CALLS = {
    "BLINDTRANSFER": "a blind transfer (calls() follows the channels, not the transfer: transferred is False)",
    "ATTENDEDTRANSFER": "an attended transfer (calls() follows the channels, not the transfer)",
    "PICKUP": "a pickup (the picked-up channel's new LinkedID joins the calls)",
    "PARK_START": "parking (no ParkedCall events)",
    "PARK_END": "parking (no ParkedCall events)",
    "FORWARD": "a call forward",
    "LOCAL_OPTIMIZE": "a Local channel optimised away",
    "USER_DEFINED": "a user-defined event",
}
_CEL_STATE = {"CHAN_START": ("0", "Down"), "ANSWER": ("6", "Up")}


def _cel_call_events(rec: dict[str, str], t: float, w: _Writer) -> None:
    """The AMI call events a CEL record stands for (marked ``Imported: cel``): ``CHAN_START`` -> ``Newchannel``,
    ``ANSWER`` -> ``Newstate`` Up, ``BRIDGE_ENTER``/``BRIDGE_EXIT`` -> ``BridgeEnter``/``BridgeLeave`` (the
    bridge from the extra's ``bridge_id``), ``HANGUP`` -> ``Hangup`` (``hangupcause``), preceded by a
    ``DialEnd`` when its extra carries the channel's ``dialstatus`` (Dial's outcome, what tells "no answer"
    from a call the dialplan answered)."""
    kind = rec.get("EventName", "")
    if kind in _CEL_NOT_IN_CALLS:
        w.report.not_in_calls[f"{kind}: {_CEL_NOT_IN_CALLS[kind]}"] += 1
        return
    if kind not in ("CHAN_START", "ANSWER", "BRIDGE_ENTER", "BRIDGE_EXIT", "HANGUP"):
        return  # CHAN_END, LINKEDID_END, APP_START/END...: nothing a call event says
    uid, lid = rec.get("UniqueID", ""), rec.get("LinkedID", "")
    if not uid or not lid:
        w.report.not_in_calls[f"{kind} without UniqueID or LinkedID in the mapping"] += 1
        return
    extra: dict[str, Any] = {}
    if rec.get("Extra", "").startswith("{"):
        try:
            extra = json.loads(rec["Extra"])
        except ValueError:
            w.report.not_in_calls[f"{kind} whose extra is not JSON"] += 1
    who = [("Channel", rec.get("Channel", "")), ("Uniqueid", uid), ("Linkedid", lid)]
    ident = [("CallerIDNum", rec.get("CallerIDnum", "")), ("CallerIDName", rec.get("CallerIDname", "")),
             ("AccountCode", rec.get("AccountCode", "")), ("Context", rec.get("Context", "")),
             ("Exten", rec.get("Exten", ""))]

    def add(event: str, *pairs: tuple[str, str]) -> None:
        w.add(Message.from_pairs([("Event", event), ("Privilege", "call,all"), ("Timestamp", f"{t:.6f}"),
                                  *who, *pairs, ("Imported", "cel")]), t)

    if kind in _CEL_STATE:
        state, desc = _CEL_STATE[kind]
        add("Newchannel" if kind == "CHAN_START" else "Newstate", ("ChannelState", state),
            ("ChannelStateDesc", desc), *ident)
    elif kind in ("BRIDGE_ENTER", "BRIDGE_EXIT"):
        bridge = str(extra.get("bridge_id", ""))
        if not bridge:
            w.report.not_in_calls[f"{kind} without a bridge_id in its extra"] += 1
            return
        add("BridgeEnter" if kind == "BRIDGE_ENTER" else "BridgeLeave", ("BridgeUniqueid", bridge),
            ("BridgeTechnology", str(extra.get("bridge_technology", ""))))
    else:
        status = str(extra.get("dialstatus", ""))
        if status:
            add("DialEnd", ("DialStatus", status))
        add("Hangup", ("Cause", str(extra.get("hangupcause", ""))), *ident)


def _queue_event(verb: str, queue: str, callid: str, agent: str, data: list[str]) -> list[tuple[str, str]] | None:
    """The AMI event a queue_log line stands for (app_queue.c writes both), or None."""

    def d(i: int) -> str:
        return data[i] if i < len(data) else ""

    base = [("Queue", queue), ("Uniqueid", callid), ("Linkedid", callid)]
    member = [("MemberName", agent), ("Interface", agent)]
    if verb == "ENTERQUEUE":  # url|callerid|position
        return [("Event", "QueueCallerJoin"), *base, ("CallerIDNum", d(1)), ("Position", d(2))]
    if verb == "CONNECT":  # holdtime|bridged channel uniqueid|ringtime
        return [("Event", "AgentConnect"), *base, *member, ("HoldTime", d(0)), ("DestUniqueid", d(1)),
                ("RingTime", d(2))]
    if verb in ("COMPLETECALLER", "COMPLETEAGENT"):  # holdtime|calltime|origposition
        return [("Event", "AgentComplete"), *base, *member, ("HoldTime", d(0)), ("TalkTime", d(1)),
                ("Reason", "caller" if verb == "COMPLETECALLER" else "agent")]
    if verb == "BLINDTRANSFER":  # exten|context|holdtime|calltime|origposition
        return [("Event", "AgentComplete"), *base, *member, ("HoldTime", d(2)), ("TalkTime", d(3)),
                ("Reason", "transfer")]
    if verb == "ATTENDEDTRANSFER":  # method|holdtime|calltime|origposition (method: BRIDGE, APP, LINK...)
        return [("Event", "AgentComplete"), *base, *member, ("HoldTime", d(1)), ("TalkTime", d(2)),
                ("Reason", "transfer")]
    if verb == "ABANDON":  # position|origposition|waittime
        return [("Event", "QueueCallerAbandon"), *base, ("Position", d(0)), ("OriginalPosition", d(1)),
                ("HoldTime", d(2))]
    if verb in ("EXITWITHTIMEOUT", "EXITEMPTY", "EXITWITHKEY", "WITHDRAW"):
        return [("Event", "QueueCallerLeave"), *base, ("Position", d(0) if verb != "EXITWITHKEY" else d(1)),
                ("Reason", verb.lower())]
    if verb == "RINGNOANSWER":  # ring time (ms)
        return [("Event", "AgentRingNoAnswer"), *base, *member, ("RingTime", d(0))]
    return None


def import_queue_log(path: PathLike, root: PathLike, *, pbx: str = "default") -> ImportReport:
    """app_queue's ``queue_log`` (``epoch|callid|queue|agent|event|data...``) -> the AMI queue events.

    The call id is the caller channel's Uniqueid, so it is both ``Uniqueid`` and ``Linkedid`` of the events.
    Member and queue administration (``ADDMEMBER``, ``PAUSE``, ``QUEUESTART``...) has no call event: it is
    counted as not mapped, by verb.
    """
    report = ImportReport(str(path), "queue_log")
    w = _Writer(root, pbx, report)
    with Path(path).open(encoding="utf-8", errors="surrogateescape") as fh:
        for line in fh:
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            report.rows += 1
            parts = line.split("|")
            if len(parts) < 5:
                report.skip("fewer than 5 fields (epoch|callid|queue|agent|event)", line)
                continue
            try:
                t = float(parts[0])
            except ValueError:
                report.skip("the first field is not epoch seconds", line)
                continue
            stamp, callid, queue, agent, verb, *data = parts
            pairs = _queue_event(verb, queue, callid, agent, data)
            if pairs is None:
                report.skip(f"{verb} (no call event)", line)
                continue
            if callid in ("NONE", "", "REALTIME", "MANAGER", "CLI"):
                report.skip(f"{verb} without a call id", line)
                continue
            w.add(Message.from_pairs([pairs[0], ("Privilege", "agent,all"), ("Timestamp", f"{t:.6f}"),
                                      *pairs[1:]]), t)
            del stamp
    return w.close()

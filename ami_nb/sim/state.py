"""State of the simulated PBX: channels, bridges, queues, call records, traffic options and constants.

Channel snapshots render the fields a real Asterisk 22 puts in every channel event, ``ChanVariable`` lines of
the recorded ``channelvars = DEMOVAR,CHANNEL(language)`` included.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .scheduler import Signal

Pairs = list[tuple[str, str]]

STATE_DESC = {0: "Down", 3: "Dialing", 4: "Ring", 5: "Ringing", 6: "Up", 7: "Busy"}
CAUSE_TEXT = {
    0: "Unknown",
    1: "Unallocated (unassigned) number",
    3: "No route to destination",
    16: "Normal Clearing",
    17: "User busy",
    19: "No user responding",
    21: "Call Rejected",
    34: "Circuit/channel congestion",
}
#: OriginateResponse Reason codes (Asterisk's AST_CONTROL_* values).
REASON_ANSWERED, REASON_BUSY, REASON_CONGESTION, REASON_FAILED = 4, 5, 8, 0
#: simulated seconds one dialplan priority takes
STEP = 0.001
CALL, DIALPLAN, CDR, USER, AGENT = "call,all", "dialplan,all", "cdr,all", "user,all", "agent,all"

#: The scenario kinds the traffic model draws from, with their default weights.
DEFAULT_MIX = {
    "answered": 0.40,
    "busy": 0.07,
    "noanswer": 0.08,
    "congestion": 0.03,
    "queue": 0.27,
    "abandon": 0.08,
    "transfer": 0.07,
}
DISPOSITION = {
    "answered": "answered",
    "busy": "busy",
    "noanswer": "no answer",
    "congestion": "failed",
    "queue": "answered",
    "abandon": "abandoned",
    "transfer": "answered",
    "failed": "failed",
}
USERS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "oscar"]
FIRST_NAMES = ["Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy", "Mallory", "Oscar"]


def cdr_time(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))


@dataclass
class Traffic:
    """Traffic options. Times are simulated seconds; rates are calls per simulated hour.

    Arrivals are Poisson (``rate``); ``mix`` weights the scenarios; talk and ring times are exponential with
    means ``talk_mean`` (at least ``talk_min``) and ``ring_mean``. Every queue caller is connected to the first
    free agent (in order of arrival) unless its patience runs out first (it abandons, also while an agent rings)
    or the queue's ``queue_timeout`` does (it leaves unanswered): patience is exponential (at least 2 s) with mean
    ``patience_mean`` for an ``abandon`` (impatient) caller and ``queue_patience_mean`` for a ``queue`` caller;
    ``agents`` members of ``queue`` take calls (dynamic members are added when the config has fewer).
    """

    rate: float = 120.0
    mix: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_MIX))
    agents: int = 3
    talk_mean: float = 180.0
    talk_min: float = 5.0
    ring_mean: float = 8.0
    patience_mean: float = 45.0
    queue_patience_mean: float = 600.0
    queue_timeout: float = 300.0
    queue: str = "support"

    @classmethod
    def coerce(cls, value: Traffic | dict[str, Any] | None) -> Traffic:
        if value is None:
            return cls()
        if isinstance(value, Traffic):
            return value
        unknown = set(value) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown traffic option(s): {sorted(unknown)}; known: {sorted(cls.__dataclass_fields__)}")
        return cls(**value)


@dataclass(eq=False)
class Channel:
    name: str
    uniqueid: str
    linkedid: str
    context: str
    exten: str
    priority: int = 1
    state: int = 0
    cid_num: str = "<unknown>"
    cid_name: str = "<unknown>"
    con_num: str = "<unknown>"
    con_name: str = "<unknown>"
    account: str = ""
    created: float = 0.0
    answered: float | None = None
    app: str = ""
    appdata: str = ""
    vars: dict[str, str] = field(default_factory=dict)
    device: str = ""
    peer: Channel | None = None  # the other half of a Local pair
    bridge: Bridge | None = None
    dialed: bool = False  # created by Dial/Queue (no Cdr of its own)
    cdr_dest: str = ""
    cdr_peer: str = ""
    cdr_userfield: str = ""
    cdr_start: float | None = None  # when its current Cdr began, if not at its creation (a fork)
    cdr_forks: list[Pairs] = field(default_factory=list)  # its earlier Cdrs, posted with the last (cdr.c)
    cdr_app: tuple[str, str] = ("", "")  # the last application a Cdr shows (cdr.c skips AppDial)
    pending_cid: tuple[str, str] | None = None  # a caller id set but not yet published (a Local half's)
    async_goto: bool = False  # a blind transfer moved it on: its Dial ends without the duration variables
    answer_later: bool = False  # a Local ;1 that goes Up once in its bridge, not with its ;2 (an atxfer target)
    async_goto_to: tuple[str, str] | None = None  # (context, exten) its Dial shows as it ends
    hungup: bool = False
    call: CallRecord | None = None
    pending_cause: int | None = None
    runs_dialplan: bool = False
    in_dial: Signal | None = None  # set while the channel waits in a bridged Dial
    no_cdr: bool = False  # its last Cdr went out already (a queue attempt's)
    attempts: list[tuple[float, float, str]] = field(default_factory=list)  # unanswered queue rings
    dial_partner: Channel | None = None  # set by an attended transfer: the caller's Dial now waits on this one
    on_soft_hangup: Callable[[int], bool] | None = None  # True: the hangup request was taken care of
    in_queue: Signal | None = None  # set while the channel is in Queue(): a hangup request wakes it
    on_hangup: Signal | None = None
    plan_token: object | None = None
    on_answer: Callable[[], None] | None = None
    on_ringing: Callable[[], None] | None = None
    on_decided: Callable[[str], None] | None = None

    def snapshot(self, prefix: str = "") -> Pairs:
        p = prefix
        return [
            (p + "Channel", self.name),
            (p + "ChannelState", str(self.state)),
            (p + "ChannelStateDesc", STATE_DESC.get(self.state, "Unknown")),
            (p + "CallerIDNum", self.cid_num),
            (p + "CallerIDName", self.cid_name),
            (p + "ConnectedLineNum", self.con_num),
            (p + "ConnectedLineName", self.con_name),
            (p + "Language", "en"),
            (p + "AccountCode", self.account),
            (p + "Context", self.context),
            (p + "Exten", self.exten),
            (p + "Priority", str(self.priority)),
            (p + "Uniqueid", self.uniqueid),
            (p + "Linkedid", self.linkedid),
            (p + "ChanVariable", f"DEMOVAR={self.vars.get('DEMOVAR', '')}"),
            (p + "ChanVariable", "CHANNEL(language)=en"),
        ]


@dataclass(eq=False)
class Bridge:
    id: str
    channels: list[Channel] = field(default_factory=list)

    def fields(self) -> Pairs:
        return [
            ("BridgeUniqueid", self.id),
            ("BridgeType", "basic"),
            ("BridgeTechnology", "simple_bridge"),
            ("BridgeCreator", "<unknown>"),
            ("BridgeName", "<unknown>"),
            ("BridgeNumChannels", str(len(self.channels))),
            ("BridgeVideoSourceMode", "none"),
        ]


#: ground_truth() columns, in order (see :class:`CallRecord` for what each one means).
GROUND_TRUTH_COLUMNS = [
    "linkedid", "caller", "callee", "scenario", "start", "answer", "end", "queue", "agent", "transferred",
    "disposition", "hangup_cause", "linkedids", "caller_channel", "answered_by", "hop", "transfer_type",
    "transferer", "transfer_target", "transfer_time", "other_linkedid", "queue_stints", "finished",
]


@dataclass(eq=False)
class CallRecord:
    """Ground truth for one call as an analyst means it: one row of :meth:`SimPBX.ground_truth`.

    A row starts with the call's first channel; its id is that channel's Linkedid (``linkedid``).

    * ``linkedids``: every Linkedid the call's channels carried, first one first. A pickup's picking channel
      and a transfer target's channel start under their own Linkedid and end under this call's one (Asterisk
      gives the channels of a bridge the oldest Linkedid), so a call can span several.
    * ``caller``: the calling party's number: for a click-to-dial Originate the A party (the phone rung
      first), not the caller ID shown to B. ``caller_channel``: that party's first channel. ``callee``: what
      was dialled (an extension, a queue name, a ring group number).
    * ``answered_by``: the endpoint device that answered (``PJSIP/bob``, ``Local/agent1@agents`` when the
      Local channel itself answers as in the recorded ``agents`` context), never a Local routing hop; None
      when nobody did. ``hop``: the routing hop the answer came through, where it says something: the queue
      member interface (``Local/agent1@agents/n``) or the ring group / follow-me Local channel
      (``Local/2002@ringgroup``); None for a direct call.
    * ``disposition``: ``answered`` (the caller was bridged to someone), ``busy``, ``no answer``, ``failed``,
      ``abandoned`` (the caller hung up while waiting in a queue). An outbound leg that answered while the
      caller was never bridged (follow-me not accepted, click-to-dial with B busy) is not ``answered``.
    * ``answer``: when the caller was first bridged; ``end``: when the last channel that belonged to the call
      hung up, whichever Linkedid it carried then; ``finished``: that has happened.
    * Transfers: ``transfer_type`` ``blind`` / ``attended`` / ``blonde`` (None: no transfer; ``transferred``
      is the same as a flag), ``transferer`` (the endpoint that transferred), ``transfer_target`` (the
      endpoint or extension the call went to), ``transfer_time`` (epoch seconds), ``other_linkedid`` (the
      consultation call's id on the original call's row and the other way round; None for a blind transfer).
    * ``queue_stints``: one dict per queue the caller was in, in order: ``queue``, ``joined``, ``left`` (epoch
      s), ``outcome`` (``answered``, ``abandon``, ``timeout``, ``exitwithkey``, ``joinempty``,
      ``leaveempty``, ``full``), ``member`` (the member name that answered, else None). ``queue`` / ``agent``
      are the last stint's queue and answering member (kept for older users).
    """

    linkedid: str
    caller: str
    callee: str
    scenario: str
    start: float
    answer: float | None = None
    end: float | None = None
    queue: str | None = None
    agent: str | None = None
    transferred: bool = False
    disposition: str = ""
    hangup_cause: int | None = None
    linkedids: list[str] = field(default_factory=list)
    caller_channel: str = ""
    answered_by: str | None = None
    hop: str | None = None
    transfer_type: str | None = None
    transferer: str | None = None
    transfer_target: str | None = None
    transfer_time: float | None = None
    other_linkedid: str | None = None
    queue_stints: list[dict[str, Any]] = field(default_factory=list)
    #: channels (by uniqueid) that belong to this call and have not hung up yet
    open_channels: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        if not self.linkedids:
            self.linkedids = [self.linkedid]

    def add_linkedid(self, linkedid: str) -> None:
        if linkedid not in self.linkedids:
            self.linkedids.append(linkedid)

    def stint(self, queue: str, joined: float) -> dict[str, Any]:
        """Open a queue stint (closed with :meth:`end_stint`)."""
        s: dict[str, Any] = {"queue": queue, "joined": joined, "left": None, "outcome": None, "member": None}
        self.queue_stints.append(s)
        self.queue = queue
        return s

    def end_stint(self, left: float, outcome: str, member: str | None = None) -> None:
        if self.queue_stints and self.queue_stints[-1]["outcome"] is None:
            self.queue_stints[-1].update(left=left, outcome=outcome, member=member)

    def transfer(self, kind: str, transferer: str, target: str, when: float, other: str | None = None) -> None:
        self.transferred = True
        self.transfer_type, self.transferer, self.transfer_target = kind, transferer, target
        self.transfer_time, self.other_linkedid = when, other

    def row(self) -> dict[str, Any]:
        return {
            "linkedid": self.linkedid,
            "caller": self.caller,
            "callee": self.callee,
            "scenario": self.scenario,
            "start": self.start,
            "answer": self.answer,
            "end": self.end,
            "queue": self.queue,
            "agent": self.agent,
            "transferred": self.transferred,
            "disposition": self.disposition,
            "hangup_cause": self.hangup_cause,
            "linkedids": list(self.linkedids),
            "caller_channel": self.caller_channel,
            "answered_by": self.answered_by,
            "hop": self.hop,
            "transfer_type": self.transfer_type,
            "transferer": self.transferer,
            "transfer_target": self.transfer_target,
            "transfer_time": self.transfer_time,
            "other_linkedid": self.other_linkedid,
            "queue_stints": [dict(s) for s in self.queue_stints],
            "finished": self.end is not None,
        }


def ground_truth_frame(rows: list[dict[str, Any]]) -> Any:
    """The ground-truth DataFrame: :data:`GROUND_TRUTH_COLUMNS`, times as UTC datetimes (stint times stay
    epoch seconds)."""
    import pandas as pd

    df = pd.DataFrame(rows, columns=GROUND_TRUTH_COLUMNS)
    for c in ("start", "answer", "end", "transfer_time"):
        df[c] = pd.to_datetime(df[c].astype("float64"), unit="s", utc=True)
    df["hangup_cause"] = df["hangup_cause"].astype("Int64")
    df["transferred"] = df["transferred"].astype(bool)
    df["finished"] = df["finished"].astype(bool)
    return df


@dataclass(eq=False)
class Member:
    queue: str
    name: str
    interface: str
    state_interface: str
    penalty: int = 0
    membership: str = "static"
    paused: bool = False
    paused_reason: str = ""
    calls_taken: int = 0
    last_call: int = 0
    last_pause: int = 0
    login_time: int = 0
    in_call: bool = False
    #: the state interface has a live channel (ringing or talking, through this queue or not)
    busy: bool = False
    #: the member's own wrapuptime (queues.conf/realtime member level), as QueueStatus shows it
    wrapuptime: int = 0
    #: the device state (``ast_device_state``) its owner reports, instead of the busy/in-call guess
    status: int | None = None
    #: another model (the contact-centre day, sim.workforce) reports its QueueMemberStatus, not device_changed
    external: bool = False

    def fields(self, *, event: bool = False) -> Pairs:
        """QueueStatus's QueueMember keys, or (``event``) those of QueueMemberAdded/Pause/Removed."""
        return [
            ("Queue", self.queue),
            ("MemberName" if event else "Name", self.name),
            ("Interface" if event else "Location", self.interface),
            ("StateInterface", self.state_interface),
            ("Membership", self.membership),
            ("Penalty", str(self.penalty)),
            ("CallsTaken", str(self.calls_taken)),
            ("LastCall", str(self.last_call)),
            ("LastPause", str(self.last_pause)),
            ("LoginTime", str(self.login_time)),
            ("InCall", "1" if self.in_call else "0"),
            ("Status", str(self.status) if self.status is not None else "2" if self.in_call or self.busy else "1"),
            ("Paused", "1" if self.paused else "0"),
            ("PausedReason", self.paused_reason),
        ]


@dataclass(eq=False)
class Queue:
    name: str
    strategy: str
    members: list[Member] = field(default_factory=list)
    callers: list[Channel] = field(default_factory=list)
    completed: int = 0
    abandoned: int = 0
    holdtime: float = 0.0
    talktime: float = 0.0
    rr: int = 0
    completed_in_sl: int = 0
    #: the Queue:<name>_avail device state last published ("" before the first)
    avail_state: str = ""
    changed: Signal = field(default_factory=lambda: Signal())
    #: callers waiting for an agent -> the Signal that tells them one was offered
    offers: dict[Channel, Signal] = field(default_factory=dict)
    #: callers an agent was offered to (ringing) -> that member
    assigned: dict[Channel, Member] = field(default_factory=dict)

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
    hungup: bool = False
    call: CallRecord | None = None
    pending_cause: int | None = None
    runs_dialplan: bool = False
    in_dial: Signal | None = None  # set while the channel waits in a bridged Dial
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


@dataclass(eq=False)
class CallRecord:
    """Ground truth for one call (one Linkedid)."""

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
        }


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
            ("Status", "2" if self.in_call else "1"),
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
    changed: Signal = field(default_factory=lambda: Signal())
    #: callers waiting for an agent -> the Signal that tells them one was offered
    offers: dict[Channel, Signal] = field(default_factory=dict)
    #: callers an agent was offered to (ringing) -> that member
    assigned: dict[Channel, Member] = field(default_factory=dict)

"""Named SIP trunks of the simulated contact centre: outbound dials over them, inbound calls arriving on them.

A trunk is a PJSIP endpoint (``carrier-a``); its channels are ``PJSIP/carrier-a-0000002f``, its device
``PJSIP/carrier-a``. What Asterisk 22 shows for each kind of seizure, and what the ground truth records:

* **outbound**: a dialer's ``Local/<number>@outbound`` pair; ``;2`` runs ``Dial(PJSIP/<number>@<trunk>,30)``, so the
  trunk channel is the DialBegin's destination. app_dial publishes DialBegin only after ``ast_call()`` succeeded,
  and DialEnd with the status of the outcome: ``ANSWER`` (cause 16 when the far end clears), ``BUSY`` (17),
  ``NOANSWER`` (the 30 s dial timeout, 19), ``CANCEL`` (the dialer gave up while it rang, 16), ``CONGESTION`` (34)
  and ``CHANUNAVAIL`` (cause 3, no route to destination: ``ast_hangup_cause_to_dial_status()`` in main/dial.c maps
  causes 3 and 20 to it).
* **inbound**: the trunk creates a channel whose ``Exten`` is the DID dialled (``Newchannel`` in context
  ``from-trunk``); a DID with a route runs ``Answer()`` and ``Queue()`` (see :mod:`~ami_nb.sim.workforce`); one
  without a route is hung up at once with cause 1 (unallocated number).

Each seizure is one :class:`Seizure` (``direction``, ``trunk`` device, ``did`` / ``number``, ``outcome`` in the
analyst's words: ``answered``, ``busy``, ``no answer``, ``cancelled``, ``failed``; the DialStatus and Hangup cause;
``start``/``answer``/``end`` epoch seconds and ``talk`` seconds from answer to the trunk channel's hangup).
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from .scheduler import Scenario
from .state import CALL, STEP, Channel

if TYPE_CHECKING:
    from .model import PBX

__all__ = ["DIAL_CAUSE", "DIAL_OUTCOME", "Seizure", "TrunkSpec", "inbound_channel", "outbound_call", "unrouted_call"]

#: DialEnd status -> the trunk channel's Hangup cause.
DIAL_CAUSE = {"ANSWER": 16, "BUSY": 17, "NOANSWER": 19, "CANCEL": 16, "CONGESTION": 34, "CHANUNAVAIL": 3}
#: DialEnd status -> the seizure outcome an analyst counts (ASR counts ``answered``; NER all but ``failed``).
DIAL_OUTCOME = {"ANSWER": "answered", "BUSY": "busy", "NOANSWER": "no answer", "CANCEL": "cancelled",
                "CONGESTION": "failed", "CHANUNAVAIL": "failed"}


@dataclass(frozen=True)
class TrunkSpec:
    """One trunk: its PJSIP endpoint ``name``, outbound dials per simulated hour, and the weights of the
    outbound DialEnd statuses (keys of :data:`DIAL_CAUSE`)."""

    name: str
    outbound_rate: float = 10.0
    outcomes: dict[str, float] = field(default_factory=lambda: {
        "ANSWER": 0.6, "BUSY": 0.12, "NOANSWER": 0.1, "CANCEL": 0.04, "CONGESTION": 0.08, "CHANUNAVAIL": 0.06})
    talk_mean: float = 150.0

    @property
    def device(self) -> str:
        return f"PJSIP/{self.name}"


@dataclass
class Seizure:
    """Ground truth of one trunk seizure (module docstring)."""

    direction: str
    trunk: str
    did: str | None
    number: str
    dialstatus: str
    outcome: str
    cause: int
    start: float
    answer: float | None = None
    end: float | None = None
    talk: float | None = None
    linkedid: str = ""
    queue: str | None = None

    def row(self) -> dict[str, Any]:
        return asdict(self)


def _pick(rng: random.Random, weights: dict[str, float]) -> str:
    r = rng.random() * sum(weights.values())
    for k, w in weights.items():
        r -= w
        if r <= 0:
            return k
    return next(iter(weights))


def inbound_channel(pbx: PBX, trunk: str, did: str, caller: str) -> Channel:
    """The channel a trunk creates for an incoming call to ``did`` (state Ring, Exten the DID, the caller's
    number as caller ID on the very first event, as chan_pjsip sets it before the channel is published)."""
    ch = pbx.new_channel(f"PJSIP/{trunk}-{next(pbx._chan_seq):08x}", "from-trunk", did, state=4,
                         device=f"PJSIP/{trunk}", announce=False)
    ch.cid_num, ch.cid_name = caller, caller
    pbx.cel(ch, "CHAN_START")
    pbx.emit("Newchannel", CALL, ch.snapshot())
    return ch


def unrouted_call(pbx: PBX, trunk: str, did: str, caller: str, truth: list[Seizure]) -> Scenario:
    """An inbound call to a DID with no route: the channel is hung up at once, cause 1."""
    ch = inbound_channel(pbx, trunk, did, caller)
    rec = pbx.record(ch, caller, did, "cc_unrouted")
    s = Seizure("inbound", f"PJSIP/{trunk}", did, caller, "", "failed", 1, pbx.now, linkedid=ch.linkedid)
    truth.append(s)
    yield STEP
    rec.disposition, rec.hangup_cause = "failed", 1
    pbx.hangup(ch, 1, request=False, h_exten=False)
    s.end = pbx.now


def outbound_call(pbx: PBX, spec: TrunkSpec, number: str, rng: random.Random, truth: list[Seizure]) -> Scenario:
    """A dialer's call to ``number`` over the trunk ``spec``, with an outcome drawn from its weights."""
    one, two = pbx.local_pair(number, "outbound")
    rec = pbx.record(one, "dialer", number, "cc_outbound")
    for ch in (one, two):
        ch.cid_num, ch.cid_name = "5550100", "Contact Centre"
    pbx.local_bridge(one, two)
    yield STEP
    pbx.newexten(two, "Dial", f"PJSIP/{number}@{spec.name},30", priority=1)
    dest = pbx.new_channel(f"PJSIP/{spec.name}-{next(pbx._chan_seq):08x}", "outbound", number,
                           linkedid=one.linkedid, device=spec.device)
    dest.dialed = True
    dest.cid_num, dest.cid_name = number, number
    status = _pick(rng, spec.outcomes)
    pbx.dial_begin(two, dest, f"{number}@{spec.name}")
    s = Seizure("outbound", spec.device, None, number, status, DIAL_OUTCOME[status], DIAL_CAUSE[status], pbx.now,
                linkedid=one.linkedid)
    truth.append(s)
    cause = DIAL_CAUSE[status]
    if status in ("CONGESTION", "CHANUNAVAIL", "BUSY"):
        yield rng.uniform(0.2, 2.0)
        if status == "BUSY":
            pbx.newstate(dest, 7)
        pbx.dial_end(two, dest, status)
        pbx.hangup(dest, cause, request=False, h_exten=False)
    else:
        yield rng.uniform(0.5, 3.0)
        pbx.newstate(dest, 5)
        pbx.dial_state(two, dest, "RINGING")
        if status == "NOANSWER":
            yield 30.0 - (pbx.now - s.start)
        elif status == "CANCEL":
            yield rng.uniform(5.0, 20.0)
        else:
            yield rng.uniform(2.0, 15.0)
        if status != "ANSWER":
            pbx.dial_end(two, dest, status)
            pbx.hangup(dest, cause, request=False, h_exten=False)
        else:
            pbx.cel(dest, "ANSWER")
            pbx.newstate(dest, 6)
            pbx.dial_end(two, dest, "ANSWER")
            s.answer = rec.answer = pbx.now
            rec.disposition, rec.answered_by = "answered", spec.device
            for ch in (two, one):
                if ch.state != 6:
                    pbx.cel(ch, "ANSWER")
                    pbx.newstate(ch, 6)
            b = pbx.bridge_create()
            pbx.bridge_enter(b, dest)
            pbx.bridge_enter(b, two, peer=dest)
            yield max(5.0, rng.expovariate(1.0 / spec.talk_mean))
            pbx.hangup(dest, 16, request=False, h_exten=False)
    s.end = pbx.now
    if s.answer is not None:
        s.talk = s.end - s.answer
    rec.hangup_cause = cause
    if not rec.disposition:
        rec.disposition = {"BUSY": "busy", "NOANSWER": "no answer", "CANCEL": "no answer"}.get(status, "failed")
    yield STEP
    if not two.hungup:
        pbx.hangup(two, cause, request=False, h_exten=False)
